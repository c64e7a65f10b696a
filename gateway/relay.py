"""Answering a caller with a service's reply, checked first: a success must fit its model
(else 502), a problem the service answered for the caller's request (404, 409, 412, 422…)
goes back as it is, and a service refusing the gateway itself or failing is a 502."""

from typing import Any, NoReturn

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from gateway.upstream import Upstream, UpstreamBroken
from kit.problems import FieldError, Problem, ProblemError

# Statuses a service answers about the caller's request; others are about the gateway.
CALLER_PROBLEMS = frozenset({400, 403, 404, 409, 412, 413, 422})
PASSED_HEADERS = ("ETag",)


def relay(
    upstream: Upstream,
    response: httpx.Response,
    model: type[BaseModel] | None,
    *,
    location_prefix: str | None = None,
) -> Response:
    """`model` None: a success has no body (204). `location_prefix` maps the service's
    Location onto the gateway's paths."""
    headers = {name: response.headers[name] for name in PASSED_HEADERS if name in response.headers}
    if location_prefix is not None and "Location" in response.headers:
        headers["Location"] = location_prefix + response.headers["Location"]
    status = response.status_code
    if status in (204, 304):
        return Response(status_code=status, headers=headers)
    if 200 <= status < 300 and model is not None:
        body = upstream.parse(response, model)
        return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)
    refuse(upstream, response)


def caller_query(request: Request) -> list[tuple[str, str]]:
    """The caller's query string as validated here, to pass on unchanged."""
    return request.query_params.multi_items()


def preconditions(if_match: str | None = None, if_none_match: str | None = None) -> dict[str, str]:
    """The caller's conditional headers, to pass on to the service that holds the ETags."""
    given = {"If-Match": if_match, "If-None-Match": if_none_match}
    return {name: value for name, value in given.items() if value is not None}


def refuse(upstream: Upstream, response: httpx.Response) -> NoReturn:
    """For a reply the gateway cannot go on with: the service's problem with the caller's
    request as the caller's own problem, anything else as a 502."""
    if response.status_code in CALLER_PROBLEMS:
        problem = problem_of(upstream, response)
        raise ProblemError(
            response.status_code,
            problem.get("detail") or problem["title"],
            kind=problem["type"].removeprefix("urn:dealgate:problem:"),
            errors=[FieldError.model_validate(error) for error in problem.get("errors") or []],
        )
    raise UpstreamBroken(upstream.name, f"HTTP {response.status_code}")


def problem_of(upstream: Upstream, response: httpx.Response) -> dict[str, Any]:
    try:
        problem = Problem.model_validate_json(response.content)
    except ValidationError:
        raise UpstreamBroken(upstream.name, "a problem that is not RFC 9457") from None
    return problem.model_dump(mode="json", exclude_none=True)
