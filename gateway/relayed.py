"""The /v1 reads that only check the caller's role and pass a service's answer on, built
from their contracts (kit.contracts.relayed); and what every list and report shares, built
so or not: JSON, or CSV when the caller asks for it."""

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from gateway.csv_answers import csv_content, csv_example, tabulated_response, wants_csv
from gateway.dependencies import Commitments
from gateway.relay import caller_query, refuse, relay
from gateway.upstream import Upstream
from kit.contracts.relayed import Relayed
from kit.problems import problem_responses

CSV_WORDS = (
    " With `Accept: text/csv`, the same as CSV (a page's items, the next page in a "
    '`Link: <…>; rel="next"` header).'
)
LINK_HEADER = {
    "Link": {"schema": {"type": "string"}, "description": 'CSV: the next page, rel="next".'}
}
Added = Callable[[Request], Iterable[tuple[str, Any]]]


def relayed(router: APIRouter, operation: Relayed, role: Any, *, added: Added | None = None):
    """Serve `operation` on `router` for callers holding `role` (a dependency alias).
    `added`: query parameters the gateway adds from its own settings (the service's query
    model declares them)."""
    query_model = operation.query

    async def endpoint(
        request: Request, _: role, upstream: Commitments, query: Annotated[query_model, Query()]
    ) -> Response:
        params = [*caller_query(request), *(added(request) if added else ())]
        response = await upstream.request("GET", operation.path, params=params)
        return listing(request, upstream, response, operation.answer)

    endpoint.__name__ = endpoint.__qualname__ = operation.name
    router.add_api_route(
        operation.path,
        endpoint,
        methods=["GET"],
        tags=[operation.tag],
        summary=operation.summary,
        description=operation.description + CSV_WORDS,
        response_model=operation.answer,
        responses=listing_responses(operation.answer, *operation.problems),
    )


def listing(
    request: Request, upstream: Upstream, response: httpx.Response, model: type[BaseModel]
) -> Response:
    """A list's or a report's answer: as the service gave it, or as CSV when asked for. One
    URL, two representations: a cache must key them by Accept (`Vary`)."""
    if not wants_csv(request) or response.status_code == 304:
        answer = relay(upstream, response, model)
    elif response.status_code != 200:
        refuse(upstream, response)
    else:
        answer = tabulated_response(upstream.parse(response, model), request)
    answer.headers["Vary"] = "Accept"
    return answer


def listing_responses(model: type[BaseModel], *problems: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of a `listing`: its 200 as JSON or CSV, and its problems."""
    return {
        200: {"content": csv_content(csv_example(model)), "headers": LINK_HEADER},
        **problem_responses(*problems),
    }
