"""Routing helpers: path segments constrained by a pattern, closed query strings, bodies
only in the media type an operation declares."""

import re
from typing import Any, get_args, get_origin

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.convertors import Convertor

from kit.auth import require_service_token
from kit.problems import FieldError, ProblemError, problem_responses


class PatternConvertor(Convertor[str]):
    """A path segment that routes only when it matches `pattern` (anchors are dropped)."""

    def __init__(self, pattern: str) -> None:
        # Starlette ends a path's regex with Python's `$`, which also matches before a final
        # newline: without the lookahead, `/items/RM-12%0A` would route as RM-12.
        self.regex = pattern.removeprefix("^").removesuffix("$") + r"(?!\n)"
        re.compile(self.regex)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def _takes_many(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_takes_many(argument) for argument in get_args(annotation))


def _query_names(alias: str, annotation: Any) -> list[tuple[str, bool]]:
    """The parameter names one declared query parameter stands for: a query model's fields
    (`Annotated[Model, Query()]`), or itself."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            (field.alias or name, _takes_many(field.annotation))
            for name, field in annotation.model_fields.items()
        ]
    return [(alias, _takes_many(annotation))]


async def reject_unknown_query_parameters(request: Request) -> None:
    """Query strings are closed: an undeclared parameter, or a single-valued one given twice,
    is a 422, like an unknown body field (rather than silently ignored or overwritten)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    declared = {
        name: takes_many
        for dependant in (route.dependant, *route.dependant.dependencies)
        for param in dependant.query_params
        for name, takes_many in _query_names(param.alias, param.field_info.annotation)
    }
    errors = []
    for name in sorted(set(request.query_params)):
        if name not in declared:
            errors.append(
                FieldError(
                    field=f"query.{name}", message="Unknown parameter.", type="extra_forbidden"
                )
            )
        elif not declared[name] and len(request.query_params.getlist(name)) > 1:
            errors.append(
                FieldError(field=f"query.{name}", message="Given more than once.", type="repeated")
            )
    if errors:
        raise ProblemError(
            422, "The query string does not fit this operation.", kind="validation", errors=errors
        )


JSON = "application/json"


def declared_body_media_types(route: APIRoute) -> tuple[str, ...]:
    """The media types an operation's OpenAPI document says its body may have: a model
    FastAPI parses is JSON; a body the route reads itself is described in `openapi_extra`."""
    described = (route.openapi_extra or {}).get("requestBody", {}).get("content")
    if described:
        return tuple(described)
    return (JSON,) if route.body_field is not None else ()


def _media_type_taken(given: str, declared: tuple[str, ...]) -> bool:
    if given in declared:
        return True
    # As FastAPI itself parses them: any `application/…+json` is JSON.
    kind, _, subtype = given.partition("/")
    return JSON in declared and kind == "application" and subtype.endswith("+json")


async def require_declared_content_type(request: Request) -> None:
    """A body in a media type the operation does not take is refused (415, naming the one it
    takes) rather than parsed as if it were, or refused as malformed. A request without a
    Content-Type that carries a body is refused too; one without either is left to say
    what is missing."""
    route = request.scope.get("route")
    declared = declared_body_media_types(route) if isinstance(route, APIRoute) else ()
    if not declared:
        return
    content_type = request.headers.get("content-type")
    carries_body = request.headers.get("content-length", "0").strip() != "0" or (
        "transfer-encoding" in request.headers
    )
    if content_type is None and not carries_body:
        return
    given = (content_type or "").partition(";")[0].strip().lower()
    if _media_type_taken(given, declared):
        return
    expected = " or ".join(declared)
    message = f"expected {expected}, got {given[:100] or 'none'}"
    raise ProblemError(
        415,
        f"This operation takes a body of Content-Type {expected}.",
        errors=[
            FieldError(field="header.content-type", message=message, type="unsupported_media_type")
        ],
    )


def service_router() -> APIRouter:
    """A router whose routes check the service token first, then close the query string and
    the body's media type (so an unauthenticated caller learns nothing about them). Its routes
    use the database, so they may answer 503 when it is busy (kit.db.on_database_error)."""
    return APIRouter(
        dependencies=[
            Depends(require_service_token),
            Depends(reject_unknown_query_parameters),
            Depends(require_declared_content_type),
        ],
        responses=problem_responses(401, 503),
    )
