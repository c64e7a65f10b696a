"""The public routers' common frame: closed query strings, bodies only in the media type
declared, and the problems any /v1 route may answer (no or a bad token, a role that may not,
a service down or answering nonsense)."""

from fastapi import APIRouter, Depends

from kit.problems import Problem, problem_responses
from kit.routing import reject_unknown_query_parameters, require_declared_content_type

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}
UNAVAILABLE = {
    503: {
        "model": Problem,
        "description": "A service the gateway needs is down; try again after Retry-After.",
        "headers": RETRY_AFTER,
    }
}


def public_router(*, authenticated: bool = True) -> APIRouter:
    # 422: every query string is closed (an unknown parameter is refused).
    statuses = (401, 403, 422, 502) if authenticated else (401, 422, 502)
    return APIRouter(
        prefix="/v1",
        # Ahead of each route's own checks, a webhook's signature among them: the media type
        # a route takes is in the public document, so refusing it first reveals nothing.
        dependencies=[
            Depends(reject_unknown_query_parameters),
            Depends(require_declared_content_type),
        ],
        responses={**problem_responses(*statuses), **UNAVAILABLE},
    )
