"""The common frame of every app: middleware, problem handlers, ops routes, OpenAPI tidy-up."""

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, PydanticUserError, TypeAdapter
from sqlalchemy.exc import DBAPIError

from kit.auth import require_service_token
from kit.db import DatabaseUnavailable, on_database_error, on_database_unavailable
from kit.middleware import (
    BodyReadTimeoutMiddleware,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    RequestMetrics,
)
from kit.ops import ops_router
from kit.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem, install_problem_handlers
from kit.settings import AppSettings

PROBLEM_REF = "#/components/schemas/Problem"
SCHEMA_REF = "#/components/schemas/{model}"


def operation_id(route: APIRoute) -> str:
    """Operation ids are the endpoint function names: stable, readable, unique per app."""
    return route.name


def create_base_app(
    *,
    title: str,
    version: str,
    description: str,
    settings: AppSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    metrics_dependencies: Sequence[DependsParam] = (),
    document_dependencies: Sequence[DependsParam] | None = None,
    documented_models: Sequence[type[BaseModel]] = (),
) -> FastAPI:
    """`document_dependencies` set (e.g. the service token) guards /openapi.json and drops
    the browser docs pages, which cannot send a token; unset, all three are public.
    `documented_models` join the document's schemas though no route declares them (a body
    a route reads raw, e.g. to check its signature first)."""
    guarded = document_dependencies is not None
    app = FastAPI(
        openapi_url=None if guarded else "/openapi.json",
        docs_url=None if guarded else "/docs",
        redoc_url=None if guarded else "/redoc",
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.metrics = RequestMetrics()
    app.state.readiness_checks = {}
    install_problem_handlers(app)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(DatabaseUnavailable, on_database_unavailable)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        BodyReadTimeoutMiddleware, timeout_seconds=settings.body_read_timeout_seconds
    )
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    app.include_router(ops_router(metrics_dependencies))
    app.openapi = lambda: _openapi(app, documented_models)  # type: ignore[method-assign]
    if guarded:

        @app.get("/openapi.json", include_in_schema=False, dependencies=list(document_dependencies))
        async def openapi_document() -> JSONResponse:
            return JSONResponse(app.openapi())

    return app


def _openapi(app: FastAPI, documented_models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            webhooks=app.webhooks.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in documented_models:
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
        for path_item in schema.get("webhooks", {}).values():
            for operation in path_item.values():
                # What a receiver answers is its own affair: FastAPI's 422 is not Dealgate's.
                operation["responses"].pop("422", None)
        for name, examples in _examples_as_written(app).items():
            if "examples" in components.get(name, {}):
                components[name]["examples"] = examples
        app.openapi_schema = _problems_as_problem_json(_body_problems(schema))
    return app.openapi_schema


def _examples_as_written(app: FastAPI) -> dict[str, list[Any]]:
    """Each answer and body model's examples, nulls included: FastAPI writes the document
    without null values (examples' too), and an example missing a required nullable field
    would not fit its own schema, nor parse in a client generated from the document."""
    annotations: list[Any] = []
    for context in iter_route_contexts([*app.routes, *app.webhooks.routes]):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        if route.response_model is not None:
            annotations.append(route.response_model)
        if route.body_field is not None:
            annotations.append(route.body_field.field_info.annotation)
    found: dict[str, list[Any]] = {}
    for annotation in annotations:
        try:
            schema = TypeAdapter(annotation).json_schema(ref_template=SCHEMA_REF)
        except PydanticUserError:
            continue  # not a model FastAPI documents (a plain Response, say)
        described = dict(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            described[annotation.__name__] = schema
        for name, definition in described.items():
            if "examples" in definition:
                found[name] = definition["examples"]
    return found


BODY_PROBLEMS = {
    "408": "Request Timeout: the body did not arrive in time; the connection is closed.",
    "415": "Unsupported Media Type: the Content-Type is not the one this operation takes.",
}


def _body_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Every operation that takes a body may answer these (kit.middleware bounds the time
    to read it, kit.routing checks its media type), so each one declares them."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if "requestBody" not in operation:
                continue
            for status, description in BODY_PROBLEMS.items():
                operation["responses"][status] = {
                    "description": description,
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
                }
    return schema


def _problems_as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    """Error answers are `application/problem+json` Problems, the 422s included."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                if ref == PROBLEM_REF or ref.endswith("/HTTPValidationError"):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
                    if status == "422":
                        response["description"] = "Unprocessable Content"
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    if "Problem" not in components:
        # Only the 422s refer to it: no route declared a problem model itself.
        ref_template = "#/components/schemas/{model}"
        components["Problem"] = Problem.model_json_schema(ref_template=ref_template)
        components["Problem"].pop("$defs", None)
        components["FieldError"] = FieldError.model_json_schema(ref_template=ref_template)
    return schema


def create_service_app(
    *,
    title: str,
    version: str,
    description: str,
    settings: AppSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    router: APIRouter,
) -> FastAPI:
    """An internal service: its token guards every route but the health checks, including
    /metrics and the OpenAPI document."""
    guard = [Depends(require_service_token)]
    app = create_base_app(
        title=title,
        version=version,
        description=description,
        settings=settings,
        lifespan=lifespan,
        metrics_dependencies=guard,
        document_dependencies=guard,
    )
    app.include_router(router)
    return app
