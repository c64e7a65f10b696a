"""Routing helpers: path segments constrained by a pattern, closed query strings."""

import re
from typing import Any, get_args, get_origin

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.convertors import Convertor

from kit.auth import require_service_token
from kit.problems import FieldError, ProblemError, problem_responses


class PatternConvertor(Convertor[str]):
    """A path segment that routes only when it matches `pattern` (anchors are dropped)."""

    def __init__(self, pattern: str) -> None:
        self.regex = pattern.removeprefix("^").removesuffix("$")
        re.compile(self.regex)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def _takes_many(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_takes_many(argument) for argument in get_args(annotation))


async def reject_unknown_query_parameters(request: Request) -> None:
    """Query strings are closed: an undeclared parameter, or a single-valued one given twice,
    is a 422, like an unknown body field (rather than silently ignored or overwritten)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    declared = {
        param.alias: _takes_many(param.field_info.annotation)
        for dependant in (route.dependant, *route.dependant.dependencies)
        for param in dependant.query_params
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


def service_router() -> APIRouter:
    """A router whose routes check the service token first, then close the query string
    (so an unauthenticated caller learns nothing about the parameters). Its routes use the
    database, so they may answer 503 when it is busy (kit.db.on_database_error)."""
    return APIRouter(
        dependencies=[Depends(require_service_token), Depends(reject_unknown_query_parameters)],
        responses=problem_responses(401, 503),
    )
