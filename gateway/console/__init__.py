"""The review console: a small web app at /console for the people who sign promises off.

Static files only (HTML, ES modules, CSS in `static/`), no build step. The console reads and
writes through the public /v1 API with the signed-in person's bearer token, like any other
client; the gateway only serves its files and `config.json` (how to sign in). None of it is
part of the public API, so none of it is in the OpenAPI document.

Sign-in: with `DEALGATE_OIDC_ISSUER` set, the console runs the authorization code flow with
PKCE (S256) in the browser and sends the provider's access token (see `gateway.oidc` for the
rule the gateway verifies it by); otherwise it takes a token from the address's fragment
(`/console/#token=…`, the link `make run` prints), which never reaches a server's log.
"""

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from gateway.oidc import OidcProvider, ProviderUnavailable
from gateway.settings import GatewaySettings

STATIC = Path(__file__).parent / "static"
PREFIX = "/console"
# Small files that change with each release: the browser revalidates (ETag) every time.
CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def serve(app: FastAPI, settings: GatewaySettings) -> None:
    app.include_router(_router(settings))
    app.mount(f"{PREFIX}/static", _StaticFiles(directory=STATIC), name="console-static")


def _router(settings: GatewaySettings) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("")
    async def console_home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    @router.get("/")
    async def console_page(request: Request) -> FileResponse:
        # Every query string is welcome here: the provider sends people back with ?code=&state=.
        connect = ["'self'", *await _provider_origins(request)]
        policy = "; ".join(
            [
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self'",
                "img-src 'self' data:",
                f"connect-src {' '.join(connect)}",
                "base-uri 'none'",
                "form-action 'self'",
                "frame-ancestors 'none'",
                "object-src 'none'",
            ]
        )
        headers = {**CACHE, "Content-Security-Policy": policy, "Referrer-Policy": "no-referrer"}
        return FileResponse(STATIC / "index.html", headers=headers)

    @router.get("/config.json")
    async def console_config(request: Request) -> JSONResponse:
        """How to sign in: null for the development link, else the provider's endpoints."""
        oidc: dict[str, Any] | None = None
        provider = _provider(request)
        if provider is not None:
            metadata = await provider.metadata()
            oidc = {
                "issuer": settings.oidc_issuer,
                "client_id": settings.oidc_client_id,
                "scopes": settings.oidc_scopes,
                "authorization_endpoint": metadata["authorization_endpoint"],
                "token_endpoint": metadata["token_endpoint"],
            }
        return JSONResponse({"oidc": oidc}, headers=CACHE)

    return router


def _provider(request: Request) -> OidcProvider | None:
    return request.app.state.verifier.oidc


async def _provider_origins(request: Request) -> list[str]:
    """Where the console's own code may connect besides the gateway: the provider's token
    endpoint (a provider that cannot be read now is left out; config.json will say why)."""
    provider = _provider(request)
    if provider is None:
        return []
    with contextlib.suppress(ProviderUnavailable):
        metadata = await provider.metadata()
        return [_origin(metadata["token_endpoint"])]
    return []


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _StaticFiles(StaticFiles):
    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(CACHE)
        return response
