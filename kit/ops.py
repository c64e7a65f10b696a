"""Operations endpoints: liveness, readiness of the app's dependencies, Prometheus metrics."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.params import Depends as DependsParam
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from kit.problems import problem_responses
from kit.routing import reject_unknown_query_parameters

ReadinessCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ok", "instance": "6f1c0e2a9b3d4f5e8a7b6c5d4e3f2a1b"}]
        }
    )

    status: Literal["ok"]
    instance: str = Field(
        description="Which process answered (DEALGATE_INSTANCE_ID): `make run` checks that "
        "it reached the processes it started, not another stack on the same port."
    )


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ready", "checks": {"database": "ok"}}]}
    )

    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


METRICS_EXAMPLE = (
    "# HELP http_requests_total Requests answered, by route template, method and status.\n"
    "# TYPE http_requests_total counter\n"
    'http_requests_total{method="GET",route="/v1/deals/{deal_id}/readiness",status="200"} 42.0\n'
)


def ops_router(metrics_dependencies: Sequence[DependsParam] = ()) -> APIRouter:
    router = APIRouter(tags=["ops"], dependencies=[Depends(reject_unknown_query_parameters)])

    @router.get(
        "/healthz",
        summary="Liveness: the process answers",
        description="For an orchestrator's liveness probe: 200 while the process serves, "
        "whatever its dependencies say (`/readyz` tells those). Needs no token.",
    )
    async def healthz(request: Request) -> Health:
        return Health(status="ok", instance=request.app.state.settings.instance_id)

    @router.get(
        "/readyz",
        summary="Readiness: every dependency answers",
        description="For a load balancer: 200 when every dependency (the database, the "
        "services behind) answers, else 503 with each check's outcome. Needs no token.",
        responses={503: {"model": Readiness, "description": "A dependency is down"}},
    )
    async def readyz(request: Request, response: Response) -> Readiness:
        checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
        results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
        outcome = dict(zip(checks, results, strict=True))
        ready = all(result == "ok" for result in outcome.values())
        response.status_code = 200 if ready else 503
        return Readiness(status="ready" if ready else "not_ready", checks=outcome)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        description="Prometheus text: requests by route, method and status, and their "
        "latency; on the gateway also the business figures (README, 'For dashboard "
        "authors'). Needs the service token.",
        dependencies=list(metrics_dependencies),
        response_class=Response,
        responses={
            200: {
                "content": {
                    CONTENT_TYPE_LATEST.split(";")[0]: {
                        "schema": {"type": "string"},
                        "example": METRICS_EXAMPLE,
                    }
                }
            },
            **problem_responses(401),
        },
    )
    async def metrics(request: Request) -> Response:
        metrics = request.app.state.metrics
        for refresh in metrics.before_scrape:
            await refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _run_check(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
