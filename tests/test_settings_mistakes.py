"""A settings mistake, or a database out of reach at start, is one line naming the variable
and exit code 2, through every entry point: the real commands, run as a person would."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from kit.startup import settings_mistakes
from services.commitments.settings import CommitmentsSettings
from services.roadmap.settings import RoadmapSettings
from tests.support.make_run import make_command, without_app_settings
from tests.support.processes import free_port

ORG_15, ORG_18 = "00D5e000000AbCd", "00D5e000000AbCdEAK"
SF_SECRET = "sf-secret-0123456789abcdefXYZ"


def run(command: list[str], workdir: Path, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=workdir,  # no .env of the checkout is read, no data/ of it is touched
        env={**without_app_settings(), **settings},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def the_one_line(result: subprocess.CompletedProcess) -> str:
    """What the command said, make's own closing line aside; it must be one line."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line and not line.startswith("make: ***")]
    assert len(lines) == 1, output
    return lines[0]


GATEWAY = [sys.executable, "-m", "gateway"]
ROADMAP = [sys.executable, "-m", "services.roadmap"]
COMMITMENTS = [sys.executable, "-m", "services.commitments"]
TOKEN = ["token", "--role", "pm", "--sub", "ana@example.com"]


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DEALGATE_JWT_SECRET", "short", "at least 32 characters"),
        ("DEALGATE_ENV", "prod", "'development' or 'production'"),
        ("DEALGATE_SALESFORCE_ORGS", f"{ORG_18}={SF_SECRET},00X5e000000AbCdEAK", "entry 2"),
        ("ROADMAP_DATABASE_URL", "mysql://root:hunter22@db/roadmap", "'mysql' is not supported"),
        ("COMMITMENTS_DATABASE_URL", "not a url", "not a database URL"),
    ],
    ids=["short-jwt-secret", "env-prod", "salesforce-org", "unsupported-driver", "not-a-url"],
)
def test_make_run_says_a_settings_mistake_in_one_line_and_starts_nothing(
    tmp_path, variable, value, says
):
    result = run(make_command("run"), tmp_path, **{variable: value})

    line = the_one_line(result)
    assert result.returncode == 2
    assert line.startswith(f"make run: {variable}"), line
    assert says in line, line
    assert "hunter22" not in line  # a database URL's password is never repeated
    assert not (tmp_path / "data").exists()  # nothing migrated, seeded or logged


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ([*GATEWAY, "serve"], "DEALGATE_JWT_SECRET", "short"),
        (GATEWAY + TOKEN, "DEALGATE_SALESFORCE_ORGS", "00D-not-an-org"),
        ([*GATEWAY, "seed"], "DEALGATE_ENV", "prod"),
        ([*ROADMAP, "migrate"], "ROADMAP_DATABASE_URL", "mysql://db/roadmap"),
        ([*ROADMAP, "seed"], "DEALGATE_ENV", "prod"),
        ([*ROADMAP, "serve"], "ROADMAP_PORT", "70000"),
        ([*COMMITMENTS, "migrate"], "DEALGATE_ENV", "prod"),
        ([*COMMITMENTS, "serve"], "COMMITMENTS_SERVICE_TOKEN", "short"),
    ],
    ids=lambda value: " ".join(value[2:]) if isinstance(value, list) else None,
)
def test_every_entry_point_says_a_settings_mistake_in_one_line(tmp_path, command, variable, value):
    result = run(command, tmp_path, **{variable: value})

    line = the_one_line(result)
    assert result.returncode == 2
    assert f": {variable}" in line, line
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (make_command("run"), "ROADMAP_DATABASE_URL"),
        (make_command("run"), "COMMITMENTS_DATABASE_URL"),
        ([*ROADMAP, "seed"], "ROADMAP_DATABASE_URL"),
        ([*COMMITMENTS, "serve"], "COMMITMENTS_DATABASE_URL"),
    ],
    ids=["make-run-roadmap", "make-run-commitments", "roadmap-seed", "commitments-serve"],
)
def test_a_database_out_of_reach_at_start_is_one_line_with_its_host_and_cause(
    tmp_path, command, variable
):
    port = free_port()  # and nothing listens on it
    url = f"postgresql://dealgate:hunter22@127.0.0.1:{port}/dealgate"  # the standard form
    settings = {variable: url, "DEALGATE_PORT": str(free_port())}
    settings |= {"COMMITMENTS_PORT": str(free_port()), "ROADMAP_PORT": str(free_port())}

    result = run(command, tmp_path, **settings)

    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    [line] = [line for line in output.splitlines() if variable in line]
    assert f"127.0.0.1:{port}" in line, line
    assert "connection refused" in line, line
    assert "hunter22" not in output
    assert "Ctrl-C stops everything" not in output  # (make run) the stack never came up


def test_a_url_option_the_driver_refuses_is_one_line_too(tmp_path):
    url = "postgresql://postgres@127.0.0.1:5432/postgres?no_such_option=1"

    result = run([*COMMITMENTS, "migrate"], tmp_path, COMMITMENTS_DATABASE_URL=url)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("services.commitments: COMMITMENTS_DATABASE_URL: cannot connect")
    assert "no_such_option" in line


def test_the_traceback_is_there_when_asked_for(tmp_path):
    result = run(GATEWAY + TOKEN, tmp_path, DEALGATE_JWT_SECRET="short", DEALGATE_TRACEBACK="1")

    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "ValidationError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == (
        "gateway: DEALGATE_JWT_SECRET: String should have at least 32 characters"
    )


# The rules behind the lines, without a process.


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db:5432/roadmap", "postgresql+asyncpg://u:p@db:5432/roadmap"),
        ("postgres://u@db/roadmap", "postgresql+asyncpg://u@db/roadmap"),
        ("postgresql+asyncpg://u@db/roadmap", "postgresql+asyncpg://u@db/roadmap"),
        ("sqlite:///data/roadmap.db", "sqlite+aiosqlite:///data/roadmap.db"),
        ("sqlite+aiosqlite:///data/roadmap.db", "sqlite+aiosqlite:///data/roadmap.db"),
        # libpq's sslmode, as managed PostgreSQL URLs carry it, is asyncpg's ssl.
        (
            "postgresql://u:p@db:5432/roadmap?sslmode=require",
            "postgresql+asyncpg://u:p@db:5432/roadmap?ssl=require",
        ),
    ],
)
def test_a_standard_database_url_runs_on_the_async_driver(given, used):
    assert RoadmapSettings(_env_file=None, database_url=given).database_url == used
    assert CommitmentsSettings(_env_file=None, database_url=given).database_url == used


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter22@db/x", "postgresql+psycopg2://u:hunter22@db/x", "db/x"]
)
def test_an_unsupported_database_url_is_refused_without_repeating_it(url):
    with pytest.raises(ValidationError) as refused:
        RoadmapSettings(_env_file=None, database_url=url)

    [line] = settings_mistakes(RoadmapSettings, refused.value)
    assert line.startswith("ROADMAP_DATABASE_URL: ")
    assert "hunter22" not in line


def test_salesforce_organizations_are_full_ids_each_with_its_secret():
    accepted = GatewaySettings(_env_file=None, salesforce_orgs=f" {ORG_18} = {SF_SECRET} ")
    assert accepted.salesforce_orgs == {ORG_18.casefold(): SF_SECRET}
    for wrong in [ORG_15, "00D5e000000AbCdEA", "0015e000000AbCdEAK", "00D5e000000AbCdEA!"]:
        with pytest.raises(ValidationError, match=r"entry 2, .* not a full Salesforce org"):
            GatewaySettings(
                _env_file=None, salesforce_orgs=f"{ORG_18}={SF_SECRET},{wrong}={SF_SECRET}"
            )
    for secret in ["", "short", "x" * 23, "has spaces in it but is long enough"]:
        with pytest.raises(ValidationError, match="entry 1 needs its secret") as refused:
            GatewaySettings(_env_file=None, salesforce_orgs=f"{ORG_18}={secret}")
        said = " ".join(settings_mistakes(GatewaySettings, refused.value))
        assert not secret or secret not in said  # what a person reads never repeats it


def test_each_mistake_is_its_own_line_naming_its_variable():
    with pytest.raises(ValidationError) as refused:
        GatewaySettings(
            _env_file=None,
            port=0,
            jwt_secret="short",
            signoff_severities="blocker,fatal",
            environment="prod",
        )

    lines = settings_mistakes(GatewaySettings, refused.value)

    assert [line.split(":")[0] for line in lines] == [
        "DEALGATE_ENV",
        "DEALGATE_PORT",
        "DEALGATE_JWT_SECRET",
        "DEALGATE_SIGNOFF_SEVERITIES (entry 2)",
    ]
    assert "short" not in lines[2]  # a secret's value is never repeated
    assert "'prod'" in lines[0]  # a plain value is, so the reader sees what was read


def test_production_names_each_secret_still_at_its_development_default():
    with pytest.raises(ValidationError) as refused:
        RoadmapSettings(_env_file=None, environment="production")

    assert settings_mistakes(RoadmapSettings, refused.value) == [
        "DEALGATE_ENV=production but ROADMAP_SERVICE_TOKEN still holds its development "
        "default: set a secret of your own"
    ]


def test_every_app_reads_its_instance_id_from_one_variable(monkeypatch):
    monkeypatch.setenv("DEALGATE_INSTANCE_ID", "run-42-gateway")

    for settings_class in (GatewaySettings, CommitmentsSettings, RoadmapSettings):
        assert settings_class(_env_file=None).instance_id == "run-42-gateway"
    monkeypatch.delenv("DEALGATE_INSTANCE_ID")
    assert RoadmapSettings(_env_file=None).instance_id != (
        RoadmapSettings(_env_file=None).instance_id
    )
