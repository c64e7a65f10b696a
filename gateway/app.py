"""The gateway app: `create_app(settings)`. It holds no database: deals and reviews live in
the commitments service, the roadmap in the roadmap service, each reached over one pooled
client; the evaluation sweep runs in the background of every replica."""

import contextlib
import math
from collections.abc import AsyncIterator, Mapping

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from gateway import (
    api_key_routes,
    audit_routes,
    console,
    reviewer_routes,
    roadmap_changes,
    roadmap_routes,
    routes,
    signoff_alerts,
    subscription_routes,
)
from gateway.auth import ApiKeyVerifier, Forbidden, TokenVerifier, Unauthenticated
from gateway.business_metrics import BusinessMetrics
from gateway.crm import webhooks
from gateway.crm.connect import connect_crms
from gateway.crm.generic import SignatureRejected
from gateway.evaluator import Evaluator, Sweeper
from gateway.events_document import document_events
from gateway.oidc import ProviderUnavailable
from gateway.roadmap_changes import Rechecks
from gateway.settings import GatewaySettings
from gateway.upstream import CircuitBreaker, Upstream, UpstreamBroken, UpstreamUnavailable
from kit import background
from kit.app import create_base_app
from kit.auth import require_service_token
from kit.contracts.commitments import CrmEvent
from kit.problems import problem_response

VERSION = "0.1.0"
DESCRIPTION = """\
Dealgate's public API. CRMs post deals and their promises through signed webhooks;
every promise is checked against the roadmap and the product vision, and a deal may close
only when a product manager has approved or rejected what conflicts. Dashboards and the
CRM's closing gate read everything here.

Authenticate with `Authorization: Bearer <JWT>` carrying `sub` (the person) and `roles`
(crm, viewer, pm, admin); webhooks authenticate by their signature instead. Errors are RFC
9457 problems (`application/problem+json`). Lists are keyset-paginated
(`?limit=…&cursor=…` → `{"items": […], "next_cursor": …}`). ETags are strong; If-Match is
optional on every write and a stale one is refused with 412. When a service behind the
gateway is down it answers 503 with Retry-After.
"""


def create_app(
    settings: GatewaySettings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """`transports` (by service name) replace the network, for tests."""
    transports = transports or {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upstreams = {
            name: Upstream(
                name,
                str(url),
                settings.service_token,
                transport=transports.get(name),
                connect_timeout=settings.upstream_connect_timeout_seconds,
                read_timeout=settings.upstream_read_timeout_seconds,
                retry_budget_seconds=settings.upstream_retry_budget_seconds,
                breaker=CircuitBreaker(
                    threshold=settings.upstream_breaker_threshold,
                    probe_interval=settings.upstream_probe_interval_seconds,
                ),
            )
            for name, url in (
                ("commitments", settings.commitments_url),
                ("roadmap", settings.roadmap_url),
            )
        }
        app.state.commitments, app.state.roadmap = upstreams["commitments"], upstreams["roadmap"]
        app.state.verifier = TokenVerifier(settings)
        app.state.api_keys = ApiKeyVerifier(
            upstreams["commitments"], settings.api_key_cache_seconds
        )
        app.state.evaluator = Evaluator(
            upstreams["commitments"],
            upstreams["roadmap"],
            settings.policy(),
            settings.evaluate_at_once_max,
        )
        app.state.sweeper = Sweeper(
            app.state.evaluator,
            interval=settings.sweep_interval_seconds,
            batch_size=settings.sweep_batch_size,
        )
        app.state.rechecks = Rechecks(
            upstreams["commitments"], upstreams["roadmap"], app.state.sweeper
        )
        upstreams["roadmap"].on_recovered.append(app.state.sweeper.roadmap_recovered)
        for name, upstream in upstreams.items():
            app.state.readiness_checks[name] = _answers_ready(upstream)
        app.state.hubspot_api, app.state.crm_sync = connect_crms(
            settings, upstreams["commitments"], app.state.evaluator, transports
        )
        business = BusinessMetrics(
            upstreams["commitments"],
            sla_hours=settings.signoff_sla_hours,
            ttl_seconds=settings.business_metrics_ttl_seconds,
        )
        app.state.metrics.registry.register(business)
        app.state.metrics.before_scrape.append(business.refresh)
        try:
            async with contextlib.AsyncExitStack() as tasks:
                tasks.push_async_callback(app.state.evaluator.stop_later)
                for api in app.state.crm_sync.apis:
                    tasks.push_async_callback(api.aclose)
                if app.state.crm_sync.active and settings.crm_sync_interval_seconds > 0:
                    run = app.state.crm_sync.run(settings.crm_sync_interval_seconds)
                    await tasks.enter_async_context(background.running(run))
                if settings.sweep_interval_seconds > 0:
                    await tasks.enter_async_context(background.running(app.state.sweeper.run()))
                if settings.signoff_check_interval_seconds > 0:
                    alerts = signoff_alerts.run(
                        upstreams["commitments"],
                        settings.policy(),
                        settings.signoff_check_interval_seconds,
                    )
                    await tasks.enter_async_context(background.running(alerts))
                yield
        finally:
            app.state.metrics.before_scrape.remove(business.refresh)
            app.state.metrics.registry.unregister(business)
            for upstream in upstreams.values():
                await upstream.aclose()

    app = create_base_app(
        title="Dealgate",
        version=VERSION,
        description=DESCRIPTION,
        settings=settings,
        lifespan=lifespan,
        metrics_dependencies=[Depends(require_service_token)],
        documented_models=[CrmEvent],
    )
    if settings.cors_origins:
        # Outermost, so a preflight is answered before anything asks for a token, and every
        # answer (a 401 or a 503 too) tells the browser it may read it.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept", "If-Match",
                           "If-None-Match", "X-Request-ID"],
            expose_headers=["ETag", "Link", "Location", "Retry-After", "X-Request-ID"],
            max_age=600,
        )  # fmt: skip
    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)
    for module in (
        webhooks,
        routes,
        roadmap_routes,
        subscription_routes,
        api_key_routes,
        reviewer_routes,
        audit_routes,
        roadmap_changes,
    ):
        app.include_router(module.router)
    document_events(app)
    console.serve(app, settings)
    return app


def _answers_ready(upstream: Upstream):
    async def check() -> None:
        response = await upstream.request("GET", "/readyz")
        if response.status_code != 200:
            raise RuntimeError(f"{upstream.name} is not ready")

    return check


async def _unavailable(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UpstreamUnavailable)
    return problem_response(
        503,
        str(error),
        kind="service-unavailable",
        headers={"Retry-After": str(math.ceil(error.retry_after))},
    )


async def _provider_unavailable(_request: Request, error: Exception) -> JSONResponse:
    return problem_response(
        503, str(error), kind="service-unavailable", headers={"Retry-After": "5"}
    )


async def _broken(_request: Request, error: Exception) -> JSONResponse:
    return problem_response(502, str(error), kind="bad-gateway")


async def _unauthenticated(_request: Request, error: Exception) -> JSONResponse:
    return problem_response(
        401, str(error), kind="unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


async def _forbidden(_request: Request, error: Exception) -> JSONResponse:
    return problem_response(403, str(error), kind="forbidden")


async def _bad_signature(_request: Request, error: Exception) -> JSONResponse:
    return problem_response(401, str(error), kind="bad-signature")


HANDLERS = {
    UpstreamUnavailable: _unavailable,
    UpstreamBroken: _broken,
    Unauthenticated: _unauthenticated,
    Forbidden: _forbidden,
    SignatureRejected: _bad_signature,
    ProviderUnavailable: _provider_unavailable,
}


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory`: settings from the environment, read when called."""
    return create_app(GatewaySettings())
