"""Who is calling: bearer JWTs (HS256 with a configured secret, RS256 from a JWKS URL, or
an OpenID Connect provider's tokens, see `gateway.oidc`), `sub` the person and `roles` among
crm, viewer, pm, admin; and what each role may do."""

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import get_args

import jwt

from gateway.oidc import OidcProvider, ProviderUnavailable
from gateway.relay import refuse
from gateway.settings import GatewaySettings
from gateway.upstream import Upstream
from kit.contracts.api_keys import KEY_PREFIX, ApiKeyRead, Role

ROLES: frozenset[str] = frozenset(get_args(Role))

# DESIGN.md "Roles": viewer+ reads everything; crm reads deals and readiness; pm and admin
# also decide, link and write the roadmap.
READ_ALL = frozenset({"viewer", "pm", "admin"})
READ_DEALS = frozenset({"crm", "viewer", "pm", "admin"})
WRITE = frozenset({"pm", "admin"})
# Who may answer a reviewer's question for the rep: the CRM (its key), or a PM or admin.
ANSWER = frozenset({"crm", "pm", "admin"})
ADMIN = frozenset({"admin"})


class Unauthenticated(Exception):
    """No token, or one that does not verify (401)."""


class Forbidden(Exception):
    """A valid token whose roles may not do this (403)."""


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]

    def require(self, allowed: frozenset[str]) -> None:
        if not self.roles & allowed:
            raise Forbidden(f"This needs one of the roles {', '.join(sorted(allowed))}.")


class TokenVerifier:
    def __init__(self, settings: GatewaySettings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.secret = settings.jwt_secret
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.jwks = (
            jwt.PyJWKClient(str(settings.jwks_url), cache_keys=True, lifespan=300, timeout=5)
            if settings.jwt_algorithm == "RS256" and settings.jwks_url is not None
            else None
        )
        self.oidc = OidcProvider(settings.oidc_issuer) if settings.oidc_issuer else None
        self.oidc_audience = settings.oidc_token_audience()

    async def verify(self, token: str) -> Principal:
        if self.oidc is not None:
            return await self._verify_oidc(self.oidc, token)
        try:
            key = self.secret
            if self.jwks is not None:
                # PyJWKClient fetches over blocking I/O (cached); keep it off the event loop.
                key = (await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)).key
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "exp"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise Unauthenticated(f"The token does not verify: {error}.") from None
        return _principal(claims)

    async def _verify_oidc(self, oidc: OidcProvider, token: str) -> Principal:
        assert self.oidc_audience is not None  # the settings require the client id
        try:
            claims = await oidc.claims(token, self.oidc_audience)
        except jwt.PyJWKClientConnectionError as error:
            # The provider's keys are out of reach: the token may be fine, so not a 401.
            reason = f"The sign-in provider's keys cannot be read: {error}."
            raise ProviderUnavailable(reason) from None
        except (jwt.PyJWTError, ValueError) as error:
            raise Unauthenticated(f"The token does not verify: {error}.") from None
        return _principal(claims)


def local_token(settings: GatewaySettings, sub: str, roles: list[str], hours: float) -> str:
    """A token for local use, signed with the HS256 secret (`python -m gateway token`, the
    console's sign-in link of `make run`)."""
    if settings.oidc_issuer:
        raise SystemExit("tokens cannot be printed while DEALGATE_OIDC_ISSUER is set: "
                         "people sign in through the provider")  # fmt: skip
    if settings.jwt_algorithm != "HS256":
        raise SystemExit("tokens can be printed only for HS256 (the keys of RS256 live elsewhere)")
    claims = {"sub": sub, "roles": roles, "exp": int(time.time() + hours * 3600)}
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


class ApiKeyVerifier:
    """Who an API key (`dgk_…`) is: asked of the commitments service by the key's hash, and
    trusted for `cache_seconds` (the replica that revokes a key forgets it at once)."""

    def __init__(self, commitments: Upstream, cache_seconds: float) -> None:
        self.commitments, self.cache_seconds = commitments, cache_seconds
        self._known: dict[str, tuple[float, Principal, str]] = {}

    async def verify(self, key: str) -> Principal:
        digest = key_hash(key)
        known = self._known.get(digest)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        response = await self.commitments.request(
            "POST", "/api-keys/lookups", json={"key_hash": digest}, idempotent=True
        )
        if response.status_code == 404:
            raise Unauthenticated("The API key is unknown or revoked.")
        if response.status_code != 200:
            refuse(self.commitments, response)
        found = self.commitments.parse(response, ApiKeyRead)
        principal = Principal(sub=f"api-key:{found.name}", roles=frozenset(found.roles))
        self._known[digest] = (time.monotonic() + self.cache_seconds, principal, found.id)
        return principal

    def forget(self, key_id: str) -> None:
        self._known = {d: entry for d, entry in self._known.items() if entry[2] != key_id}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _principal(claims: dict) -> Principal:
    sub, roles = claims.get("sub"), claims.get("roles", [])
    if not isinstance(sub, str) or not sub.strip():
        raise Unauthenticated("The token names no person (`sub`).")
    if len(sub) > 254 or not sub.isprintable():
        raise Unauthenticated("The token's `sub` is not a name the decision history can keep.")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated("The token's `roles` is not a list of role names.")
    unknown = set(roles) - ROLES
    if unknown:
        raise Unauthenticated(f"The token carries unknown roles: {', '.join(sorted(unknown))}.")
    return Principal(sub=sub, roles=frozenset(roles))
