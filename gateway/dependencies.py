"""What an endpoint needs, as `Annotated` aliases: the caller, checked against the roles
the endpoint allows, and the clients of the two services."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth import (
    ADMIN,
    ANSWER,
    READ_ALL,
    READ_DEALS,
    WRITE,
    ApiKeyVerifier,
    Principal,
    TokenVerifier,
    Unauthenticated,
)
from gateway.evaluator import Evaluator, Sweeper
from gateway.upstream import Upstream
from kit.contracts.api_keys import KEY_PREFIX

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerJWT",
    description="A JWT with `sub` (the person) and `roles` (crm, viewer, pm, admin), or an "
    "API key (`dgk_…`) an admin made for a machine client.",
    bearerFormat="JWT",
)


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("A bearer token is required (Authorization: Bearer <JWT>).")
    token = credentials.credentials
    if token.startswith(KEY_PREFIX):
        keys: ApiKeyVerifier = request.app.state.api_keys
        return await keys.verify(token)
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(token)


def _role_in(allowed: frozenset[str]):
    async def check(principal: Annotated[Principal, Depends(_caller)]) -> Principal:
        principal.require(allowed)
        return principal

    return check


Reader = Annotated[Principal, Depends(_role_in(READ_ALL))]
DealReader = Annotated[Principal, Depends(_role_in(READ_DEALS))]
Writer = Annotated[Principal, Depends(_role_in(WRITE))]
Admin = Annotated[Principal, Depends(_role_in(ADMIN))]
Answerer = Annotated[Principal, Depends(_role_in(ANSWER))]


async def _commitments(request: Request) -> Upstream:
    return request.app.state.commitments


async def _roadmap(request: Request) -> Upstream:
    return request.app.state.roadmap


async def _evaluator(request: Request) -> Evaluator:
    return request.app.state.evaluator


Commitments = Annotated[Upstream, Depends(_commitments)]
Roadmap = Annotated[Upstream, Depends(_roadmap)]


async def _sweeper(request: Request) -> Sweeper:
    return request.app.state.sweeper


EvaluatorDep = Annotated[Evaluator, Depends(_evaluator)]
SweeperDep = Annotated[Sweeper, Depends(_sweeper)]
