"""The internal service token: the only credential the internal services accept."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kit.problems import ProblemError

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ServiceToken",
    description="The internal service token (the `SERVICE_TOKEN` setting) as a bearer token.",
)


async def require_service_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuses (401) any request without `Authorization: Bearer <the app's service token>`."""
    expected = request.app.state.settings.service_token.encode()
    given = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(given, expected):
        raise ProblemError(
            401,
            "A valid service token is required (Authorization: Bearer <token>).",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
