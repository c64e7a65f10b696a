"""Reads the gateway passes on as the commitments service answers them, each declared once here: the
service serves it (`served`) and the gateway builds its relay from the same declaration
(gateway.relayed), so the path, the query parameters, the answer's model, the problems and
the words a dashboard author reads cannot drift apart between the two."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from kit.problems import problem_responses


@dataclass(frozen=True)
class Relayed:
    """A GET whose query string is one model. `name` is its operationId on both sides;
    `query` is what a caller of the gateway may send (a service may take more, in a model
    extending it, for what the gateway adds: see gateway.relayed)."""

    path: str
    name: str
    tag: str
    summary: str
    description: str
    answer: type[BaseModel]
    query: type[BaseModel]
    problems: tuple[int, ...] = (422,)


def served(router: APIRouter, operation: Relayed) -> Callable[[Callable[..., Any]], Any]:
    """The service's side: `@served(router, OPERATION)` on the handler, which takes
    `Annotated[<the query model, or one extending it>, Query()]`."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        if handler.__name__ != operation.name:
            raise ValueError(f"{handler.__name__} serves {operation.name}: name it so")
        return router.get(
            operation.path,
            tags=[operation.tag],
            summary=operation.summary,
            description=operation.description,
            response_model=operation.answer,
            responses=problem_responses(*operation.problems),
        )(handler)

    return register
