"""The gateway serves the review console: its page with a strict content security policy,
every file the page loads (each ES module's imports followed), config.json saying how to
sign in, and none of it in the public API's document. The files ship in the package."""

import fnmatch
import re
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from gateway import console
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.clients import running
from tests.support.oidc_provider import served

ROOT = Path(__file__).resolve().parent.parent
SECRET = "a-jwt-secret-for-the-console-tests-0123456789"
QUIET = {"sweep_interval_seconds": 0, "signoff_check_interval_seconds": 0}
IMPORT = re.compile(r"""^import\s.*?from\s+"(\./[^"]+)";""", re.MULTILINE | re.DOTALL)


def gateway_app(**overrides):
    return create_app(GatewaySettings(_env_file=None, jwt_secret=SECRET, **QUIET, **overrides))


async def test_the_page_and_every_file_it_loads_are_served():
    async with running(gateway_app()) as gateway:
        moved = await gateway.get("/console")
        page = await gateway.get("/console/")
        back_from_sign_in = await gateway.get("/console/?code=abc&state=xyz")
        assert page.status_code == 200
        referenced = re.findall(r'(?:src|href)="(static/[^"]+)"', page.text)
        assert {"static/console.css", "static/js/main.js"} <= set(referenced)
        modules = [name for name in referenced if name.endswith(".js")]
        seen: set[str] = set()
        while modules:
            name = modules.pop()
            if name in seen:
                continue
            seen.add(name)
            answer = await gateway.get(f"/console/{name}")
            assert answer.status_code == 200, name
            assert answer.headers["content-type"].split(";")[0] in {
                "text/javascript",
                "application/javascript",
            }, name
            folder = PurePosixPath(name).parent
            modules += [
                str(folder / found.removeprefix("./")) for found in IMPORT.findall(answer.text)
            ]
        css = await gateway.get("/console/static/console.css")
        missing = await gateway.get("/console/static/js/nothing.js")

    assert (moved.status_code, moved.headers["location"]) == (308, "/console/")
    assert back_from_sign_in.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self';" in policy  # no provider: the gateway alone
    assert "frame-ancestors 'none'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    # Every module of the package is loaded by the page: none is dead, none is missing.
    shipped = {f"static/js/{path.name}" for path in (console.STATIC / "js").glob("*.js")}
    assert seen == shipped
    assert css.status_code == 200
    assert css.headers["cache-control"] == "no-cache"
    assert missing.status_code == 404


async def test_config_says_how_to_sign_in():
    async with running(gateway_app()) as gateway:
        development = (await gateway.get("/console/config.json")).json()
    with served("dealgate-console", []) as provider:
        settings = {"oidc_issuer": provider.issuer, "oidc_client_id": "dealgate-console"}
        async with running(gateway_app(**settings)) as gateway:
            production = (await gateway.get("/console/config.json")).json()
            page = await gateway.get("/console/")

    assert development == {"oidc": None}
    assert production == {
        "oidc": {
            "issuer": provider.issuer,
            "client_id": "dealgate-console",
            "scopes": "openid profile email",
            "authorization_endpoint": f"{provider.issuer}/authorize",
            "token_endpoint": f"{provider.issuer}/token",
        }
    }
    # The console's code may call the provider's token endpoint, and nothing else outside.
    assert f"connect-src 'self' {provider.issuer};" in page.headers["content-security-policy"]


async def test_the_console_is_not_part_of_the_public_api():
    app = gateway_app()

    paths = app.openapi()["paths"]

    assert not [path for path in paths if path.startswith("/console")]


def test_every_static_file_ships_in_the_package():
    """`pip install .` (the Dockerfile's) copies only what package-data names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["gateway"]
    files = [path for path in console.STATIC.rglob("*") if path.is_file()]
    assert files
    for path in files:
        relative = PurePosixPath(path.relative_to(ROOT / "gateway").as_posix())
        assert any(_matches(relative, PurePosixPath(pattern)) for pattern in patterns), relative


def _matches(path: PurePosixPath, pattern: PurePosixPath) -> bool:
    """As setuptools globs: a `*` stays within one folder."""
    return path.parent == pattern.parent and fnmatch.fnmatchcase(path.name, pattern.name)


@pytest.mark.parametrize(
    "path", ["/console/", "/console/config.json", "/console/static/js/main.js"]
)
async def test_no_token_is_needed_to_load_the_console(path):
    async with running(gateway_app()) as gateway:
        answer = await gateway.get(path)

    assert answer.status_code == 200
