"""The deployment files (Dockerfile, docker-compose.yml, deploy/) agree with the code.

Adding an app to the stack is one entry in APPS plus its service in docker-compose.yml.
"""

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.settings import GatewaySettings
from kit.settings import AppSettings
from services.commitments.settings import CommitmentsSettings
from services.roadmap.settings import RoadmapSettings

ROOT = Path(__file__).resolve().parent.parent
SERVICES: dict[str, dict] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PUBLISHED = {"gateway"}  # the only app reachable from outside the compose network
OPERATOR_SECRET = "secret-from-the-operator-0123456789"
# Secrets with a shape of their own, as an operator would give them.
SHAPED_SECRETS = {"DEALGATE_WEBHOOK_SECRET": "whsec_c2VjcmV0LWZyb20tdGhlLW9wZXJhdG9yLTAxMjM0NQ=="}


@dataclass(frozen=True)
class AppSpec:
    module: str
    settings: type[AppSettings]
    prefix: str
    port: int
    database: str | None  # None: the app holds no database (the gateway)


APPS = {
    "roadmap": AppSpec("services.roadmap", RoadmapSettings, "ROADMAP_", 8002, "roadmap"),
    "commitments": AppSpec(
        "services.commitments", CommitmentsSettings, "COMMITMENTS_", 8001, "commitments"
    ),
    "gateway": AppSpec("gateway", GatewaySettings, "DEALGATE_", 8000, None),
}
WITH_DATABASE = [name for name, spec in APPS.items() if spec.database]
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def mapping(value: dict | list | None) -> dict[str, str]:
    """Compose takes `KEY: value` mappings and `KEY=value` lists alike."""
    if isinstance(value, list):
        return dict(item.split("=", 1) for item in value)
    return {key: str(item) for key, item in (value or {}).items()}


def interpolate(text: str) -> str:
    """What compose substitutes: `${VAR:-default}` its default, anything else a secret."""
    return INTERPOLATION.sub(
        lambda m: m[3] if m[2] in ("-", ":-") else SHAPED_SECRETS.get(m[1], OPERATOR_SECRET), text
    )


def environment(name: str) -> dict[str, str]:
    return mapping(SERVICES[name].get("environment"))


def init_databases() -> set[str]:
    """The databases the SQL scripts mounted into postgres's init directory create."""
    mounts = [volume.split(":") for volume in SERVICES["postgres"].get("volumes", [])]
    scripts = [
        ROOT / source for source, target, *_ in mounts if "docker-entrypoint-initdb.d" in target
    ]
    sql = "".join(script.read_text() for script in scripts)
    return set(re.findall(r'CREATE DATABASE\s+"?(\w+)', sql, re.IGNORECASE))


def test_compose_runs_postgres_and_exactly_the_apps() -> None:
    assert set(SERVICES) == {"postgres", *APPS}
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in str(SERVICES["postgres"]["healthcheck"]["test"])


def test_only_the_gateway_publishes_ports() -> None:
    published = {name for name, service in SERVICES.items() if "ports" in service}
    assert published == PUBLISHED
    assert [str(port) for port in SERVICES["gateway"]["ports"]] == ["8000:8000"]


def test_the_gateway_reaches_each_service_where_compose_serves_it() -> None:
    env = environment("gateway")
    for service in ("commitments", "roadmap"):
        url = urlsplit(env[f"DEALGATE_{service.upper()}_URL"])
        assert (url.hostname, url.port) == (service, APPS[service].port)
        assert service in SERVICES["gateway"]["depends_on"]


def test_the_roadmap_pushes_its_changes_to_the_gateway() -> None:
    from gateway.roadmap_changes import router

    url = urlsplit(environment("roadmap")["ROADMAP_SUBSCRIBER_URL"])
    assert (url.hostname, url.port) == ("gateway", APPS["gateway"].port)
    assert url.path in {route.path for route in router.routes}


@pytest.mark.parametrize("name", APPS)
def test_app_starts_once_its_dependencies_are_healthy(name: str) -> None:
    depends_on = SERVICES[name].get("depends_on", {})
    assert isinstance(depends_on, dict), "use the long form: <service>: {condition: …}"
    if APPS[name].database:
        assert "postgres" in depends_on
    for dependency, how in depends_on.items():
        assert how.get("condition") == "service_healthy", dependency
        assert "healthcheck" in SERVICES[dependency], dependency


@pytest.mark.parametrize("name", APPS)
def test_app_is_built_from_the_one_dockerfile_with_its_module(name: str) -> None:
    build = SERVICES[name]["build"]
    assert (build["context"], build["dockerfile"]) == (".", "Dockerfile")
    module = mapping(build.get("args"))["APP_MODULE"]
    assert module == APPS[name].module
    assert importlib.util.find_spec(module + ".__main__") is not None


@pytest.mark.parametrize("name", APPS)
def test_every_environment_variable_is_a_setting(name: str) -> None:
    spec = APPS[name]
    known = {"DEALGATE_ENV"} | {spec.prefix + field.upper() for field in spec.settings.model_fields}
    assert set(environment(name)) - known == set()


@pytest.mark.parametrize("name", APPS)
def test_app_listens_on_its_port_on_every_interface(name: str) -> None:
    spec, env = APPS[name], environment(name)
    assert spec.settings.model_fields["port"].default == spec.port
    assert env[spec.prefix + "PORT"] == str(spec.port)
    assert env[spec.prefix + "HOST"] == "0.0.0.0"
    assert [str(port) for port in SERVICES[name]["expose"]] == [str(spec.port)]
    assert f"127.0.0.1:{spec.port}/healthz" in str(SERVICES[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", WITH_DATABASE)
def test_database_url_is_its_own_postgres_database(name: str) -> None:
    spec = APPS[name]
    url = urlsplit(interpolate(environment(name)[spec.prefix + "DATABASE_URL"]))
    assert (url.scheme, url.hostname, url.port) == ("postgresql+asyncpg", "postgres", 5432)
    assert url.path.lstrip("/") == spec.database
    assert spec.database in init_databases()


@pytest.mark.parametrize("name", APPS)
def test_secrets_come_from_the_operator(name: str) -> None:
    spec, env = APPS[name], environment(name)
    for field in spec.settings.secret_fields:
        value = env.get(spec.prefix + field.upper(), "")
        assert re.fullmatch(r"\$\{\w+:?\?[^}]*\}", value), f"{field} must be ${{VAR:?…}}"


@pytest.mark.parametrize("name", APPS)
def test_compose_environment_is_valid_production_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = APPS[name]
    for variable in ["DEALGATE_ENV", *(v for v in os.environ if v.startswith(spec.prefix))]:
        monkeypatch.delenv(variable, raising=False)  # only the compose values count
    values = {
        "environment" if var == "DEALGATE_ENV" else var.removeprefix(spec.prefix).lower(): value
        for var, value in environment(name).items()
    }
    settings = spec.settings(_env_file=None, **{f: interpolate(v) for f, v in values.items()})
    assert settings.environment == "production"
    assert settings.port == spec.port


def test_dockerfile_builds_any_app_from_a_python_311_image() -> None:
    base = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.MULTILINE)[-1]
    version = re.match(r"python:3\.(\d+)", base)
    assert version, base
    assert int(version[1]) >= 11, base
    assert re.search(r"^ARG\s+APP_MODULE\b", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^ENV\s+APP_MODULE=\$\{?APP_MODULE\b", DOCKERFILE, re.MULTILINE)
    command = re.findall(r"^CMD\s+(.*)$", DOCKERFILE, re.MULTILINE)[-1]
    assert not command.startswith("["), "shell form, so $APP_MODULE expands"
    assert 'python -m "$APP_MODULE" serve' in command


def test_dockerfile_copies_every_package_the_apps_need() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip().rstrip("/") for line in lines if not line.startswith("#")}
    packages = {"kit", *(spec.module.split(".")[0] for spec in APPS.values())}
    for source in ["pyproject.toml", *(f"{package}/" for package in sorted(packages))]:
        assert re.search(rf"^COPY\s+{re.escape(source)}\s", DOCKERFILE, re.MULTILINE), source
        assert source.rstrip("/") not in ignored, source
