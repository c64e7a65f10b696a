"""The webhook subscriptions API of the commitments service (internal; the gateway relays
it to admins as /v1/webhook-subscriptions)."""

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from kit.contracts.commitments import PageQuery
from kit.contracts.events import (
    DeliveryPage,
    ReplayAnswer,
    ReplayRequest,
    SubscriptionCreate,
    SubscriptionPage,
    SubscriptionRead,
    SubscriptionUpdate,
)
from kit.contracts.lists import SUBSCRIPTIONS
from kit.contracts.parameters import IdPath, Limit, TimeCursor
from kit.contracts.relayed import served
from kit.db import RequestConnection, utcnow
from kit.problems import problem_responses
from kit.routing import service_router
from services.commitments.outbound import subscriptions
from services.commitments.outbound.destinations import Network

router = service_router()
TAGS = ["webhook subscriptions"]


async def _allowed_networks(request: Request) -> list[Network]:
    return request.app.state.settings.sendable_networks()


AllowedNetworks = Annotated[list[Network], Depends(_allowed_networks)]


@router.post(
    "/webhook-subscriptions",
    tags=TAGS,
    status_code=201,
    summary="Subscribe a URL to event types; the answer carries its secret, once",
    description="The URL must be http(s) and reach a public address (or one the allow-list "
    "names); 422 otherwise.",
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **problem_responses(413, 422),
    },
)
async def create_webhook_subscription(
    data: SubscriptionCreate,
    connection: RequestConnection,
    allowed: AllowedNetworks,
    response: Response,
) -> SubscriptionRead:
    created = await subscriptions.create(connection, data, allowed)
    response.headers["Location"] = f"/webhook-subscriptions/{created.id}"
    return created


@served(router, SUBSCRIPTIONS)
async def list_webhook_subscriptions(
    asked: Annotated[PageQuery, Query()], connection: RequestConnection
) -> SubscriptionPage:
    return await subscriptions.list_page(connection, limit=asked.limit, cursor=asked.cursor)


@router.get(
    "/webhook-subscriptions/{subscription_id:uuid_text}",
    tags=TAGS,
    summary="One webhook subscription (its secret is never shown again)",
    responses=problem_responses(404, 422),
)
async def get_webhook_subscription(
    subscription_id: IdPath, connection: RequestConnection
) -> SubscriptionRead:
    return await subscriptions.get(connection, subscription_id)


@router.patch(
    "/webhook-subscriptions/{subscription_id:uuid_text}",
    tags=TAGS,
    summary="Change, enable, disable a subscription, or rotate its secret",
    description="With `rotate_secret`, the answer carries the new secret, once; the old one "
    "signs beside it for the overlap.",
    responses=problem_responses(404, 413, 422),
)
async def update_webhook_subscription(
    subscription_id: IdPath,
    data: SubscriptionUpdate,
    connection: RequestConnection,
    allowed: AllowedNetworks,
    request: Request,
) -> SubscriptionRead:
    overlap = timedelta(seconds=request.app.state.settings.webhook_secret_overlap_seconds)
    return await subscriptions.change(connection, subscription_id, data, allowed, overlap)


@router.delete(
    "/webhook-subscriptions/{subscription_id:uuid_text}",
    tags=TAGS,
    status_code=204,
    summary="Delete a subscription, what it was owed and its deliveries log",
    responses=problem_responses(404, 422),
)
async def delete_webhook_subscription(
    subscription_id: IdPath, connection: RequestConnection
) -> Response:
    await subscriptions.remove(connection, subscription_id)
    return Response(status_code=204)


@router.get(
    "/webhook-subscriptions/{subscription_id:uuid_text}/deliveries",
    tags=TAGS,
    summary="Every delivery attempt, newest first: event, status code, latency, error",
    responses=problem_responses(404, 422),
)
async def list_webhook_deliveries(
    subscription_id: IdPath,
    connection: RequestConnection,
    limit: Limit = 50,
    cursor: TimeCursor = None,
) -> DeliveryPage:
    return await subscriptions.deliveries(connection, subscription_id, limit=limit, cursor=cursor)


@router.post(
    "/webhook-subscriptions/{subscription_id:uuid_text}/replays",
    tags=TAGS,
    status_code=202,
    summary="Send one event again, or every event of its types in a time range",
    description="Queued with what is owed, in event order per deal (never beside a delivery "
    "of the same deal in flight); each keeps its event id as "
    "`webhook-id`, so a receiver that has it already can tell.",
    responses=problem_responses(404, 413, 422),
)
async def replay_webhook_events(
    subscription_id: IdPath, data: ReplayRequest, connection: RequestConnection
) -> ReplayAnswer:
    return await subscriptions.replay(connection, subscription_id, data, utcnow())
