"""The /v1 reads that only check the caller's role and pass a service's answer on, built
from their contracts (kit.contracts.relayed), each as JSON or, asked for, CSV."""

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from gateway.csv_answers import csv_content, csv_example, tabulated_response, wants_csv
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
        request: Request, _: role, query: Annotated[query_model, Query()]
    ) -> Response:
        upstream: Upstream = getattr(request.app.state, operation.service)
        params = [*caller_query(request), *(added(request) if added else ())]
        response = await upstream.request("GET", operation.path, params=params)
        if not wants_csv(request):
            return relay(upstream, response, operation.answer)
        if response.status_code != 200:
            refuse(upstream, response)
        return tabulated_response(upstream.parse(response, operation.answer), request)

    endpoint.__name__ = endpoint.__qualname__ = operation.name
    router.add_api_route(
        operation.path,
        endpoint,
        methods=["GET"],
        tags=[operation.tag],
        summary=operation.summary,
        description=operation.description + CSV_WORDS,
        response_model=operation.answer,
        responses={
            200: {"content": csv_content(csv_example(operation.answer)), "headers": LINK_HEADER},
            **problem_responses(*operation.problems),
        },
    )
