"""RFC 9457 problem details: the one error shape every app answers with."""

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import get_route_path

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="Where the bad value is, e.g. `body.planned_end`.")
    message: str
    type: str = Field(description="Machine-readable error kind.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:dealgate:problem:validation",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "The request has 1 invalid field.",
                    "errors": [
                        {
                            "field": "body.planned_end",
                            "message": "planned_start must not be after planned_end",
                            "type": "value_error",
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = Field(
        None, description="Per-field errors, on validation problems."
    )


class BodyTooLarge(Exception):
    """Raised while a body is read, once it passes the app's limit."""


class BodyReadTimeout(Exception):
    """Raised while a body is read, once it has taken longer to arrive than the app waits."""


class ProblemError(Exception):
    """Raise anywhere below an endpoint to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _default_kind(status)
        self.errors = errors
        self.headers = headers

    def problem(self) -> "Problem":
        """The problem document this error answers with (for one item of a batch)."""
        return Problem(
            type=f"urn:dealgate:problem:{self.kind}",
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            errors=self.errors,
        )


def not_found(what: str, identifier: str) -> ProblemError:
    return ProblemError(404, f"No {what} {identifier}.", kind="not-found")


def field_problem(field: str, message: str, *, status: int = 422) -> ProblemError:
    """A validation problem about one field, shaped like the framework's own."""
    return ProblemError(
        status,
        message,
        kind="validation",
        errors=[FieldError(field=field, message=message, type="value_error")],
    )


def _default_kind(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    kind: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:dealgate:problem:{kind or _default_kind(status)}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [error.model_dump() for error in errors]
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status, exc.detail, kind=exc.kind, errors=exc.errors, headers=exc.headers
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    # FastAPI turns any failure while reading or parsing the body into a 400.
    if isinstance(exc.__cause__, BodyTooLarge):
        return too_large_response(request.app.state.settings.max_body_bytes)
    if isinstance(exc.__cause__, BodyReadTimeout):
        return body_read_timeout_response(request.app.state.settings.body_read_timeout_seconds)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError | ValueError):
        # Malformed bodies are 422 like invalid JSON.
        return _unreadable_body("The body is not UTF-8 JSON.")
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # JSON nested past what the parser follows is malformed input, not a fault here.
        return _unreadable_body("The body's JSON nests too deeply to be read.")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(exc.status_code, detail, headers=headers)


def _unreadable_body(message: str) -> JSONResponse:
    errors = [FieldError(field="body", message=message, type="json_invalid")]
    return problem_response(
        422, "The request body could not be read.", kind="validation", errors=errors
    )


def validation_problem(
    errors: Iterable[Mapping[str, Any]], where: tuple[str, ...] = ()
) -> ProblemError:
    """A 422 naming every field pydantic refused, under `where` (e.g. `("body",)` when the
    model was validated from a body read by hand)."""
    found = [
        FieldError(
            field=_location((*where, *error["loc"])), message=error["msg"], type=error["type"]
        )
        for error in errors
    ]
    count = len(found)
    detail = f"The request has {count} invalid field{'s' if count != 1 else ''}."
    return ProblemError(422, detail, kind="validation", errors=found)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return await _on_problem(request, validation_problem(exc.errors()))


def too_large_response(max_bytes: int) -> JSONResponse:
    return problem_response(
        413, f"The request body is larger than {max_bytes} bytes.", kind="too-large"
    )


def body_read_timeout_response(seconds: float) -> JSONResponse:
    # The rest of the body may still be on its way: the connection cannot serve another
    # request, so it is closed once this is sent.
    return problem_response(
        408,
        f"The request body did not arrive within {seconds:g} seconds.",
        headers={"Connection": "close"},
    )


def unexpected_error_response() -> JSONResponse:
    """What any unforeseen failure answers: no detail of it leaves the process."""
    return problem_response(500, "An unexpected error occurred; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring that a route may answer these problems."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }
