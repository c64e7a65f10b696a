"""The OpenID Connect provider people sign in to the review console with.

The rule, when `DEALGATE_OIDC_ISSUER` is set: a person's bearer token is the provider's
access token, RS256, verified against the keys its discovery document publishes
(`jwks_uri`), with `iss` equal to the issuer and `aud` holding `DEALGATE_OIDC_AUDIENCE`
(by default the console's client id); `sub` and `roles` are read as from any token. The
discovery document is read when first needed and again after `DISCOVERY_TTL_SECONDS`, and
its own `issuer` must be the one configured (OpenID Connect Discovery 1.0, section 4.3), so
a document served from elsewhere cannot name other keys.
"""

import asyncio
import time
from typing import Any

import httpx
import jwt

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TTL_SECONDS = 3600.0
ALGORITHMS = ["RS256"]
# Without these the console cannot sign in, nor the gateway verify.
REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class ProviderUnavailable(Exception):
    """The provider's discovery document cannot be read or is unusable (503)."""


class OidcProvider:
    def __init__(self, issuer: str, *, timeout: float = 5.0) -> None:
        self.issuer, self.timeout = issuer, timeout
        self._metadata: dict[str, Any] | None = None
        self._read_at = 0.0
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = asyncio.Lock()

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + DISCOVERY_PATH

    async def metadata(self) -> dict[str, Any]:
        async with self._lock:
            fresh = time.monotonic() - self._read_at < DISCOVERY_TTL_SECONDS
            if self._metadata is None or not fresh:
                self._metadata = await self._discover()
                self._read_at = time.monotonic()
                jwks_uri = self._metadata["jwks_uri"]
                if self._jwks is None or self._jwks.uri != jwks_uri:
                    self._jwks = jwt.PyJWKClient(
                        jwks_uri, cache_keys=True, lifespan=300, timeout=int(self.timeout)
                    )
            return self._metadata

    async def _discover(self) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(self.discovery_url)
            document = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document could not be read: {error}."
            ) from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document answered {response.status_code}."
            )
        missing = [name for name in REQUIRED_METADATA if not isinstance(document.get(name), str)]
        if missing:
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document lacks {', '.join(missing)}."
            )
        if document["issuer"] != self.issuer:
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document names the issuer "
                f"{document['issuer']!r}, not {self.issuer!r}."
            )
        return document

    async def claims(self, token: str, audience: str) -> dict[str, Any]:
        """The token's claims once verified; jwt.PyJWTError when it does not verify."""
        await self.metadata()
        assert self._jwks is not None
        # PyJWKClient fetches over blocking I/O (cached); keep it off the event loop.
        key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
        return jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=self.issuer,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
