"""/v1/webhook-subscriptions: admins subscribe URLs to Dealgate's events, read each
subscription's deliveries and replay events. Each route checks the admin role, then asks
the commitments service, which keeps the subscriptions and delivers the events."""

from fastapi import Request, Response

from gateway.dependencies import Admin, Commitments
from gateway.relay import caller_query, relay
from gateway.relayed import listing, listing_responses, relayed
from gateway.routing import public_router
from kit.contracts.events import (
    DeliveryPage,
    ReplayAnswer,
    ReplayRequest,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
)
from kit.contracts.lists import SUBSCRIPTIONS
from kit.contracts.parameters import IdPath, Limit, TimeCursor
from kit.problems import problem_responses

router = public_router()
TAGS = ["webhook subscriptions"]
PATH = "/webhook-subscriptions"


@router.post(
    PATH,
    tags=TAGS,
    status_code=201,
    summary="Subscribe a URL to event types; the answer carries its secret, once",
    description="Deliveries follow Standard Webhooks, signed with the subscription's "
    "`whsec_…` secret: keep it, it is never shown again. The URL must be http(s) and reach "
    "a public address (private, loopback and link-local ones are refused unless allowed).",
    response_model=SubscriptionRead,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **problem_responses(413, 422),
    },
)
async def create_webhook_subscription(
    data: SubscriptionCreate, _: Admin, commitments: Commitments
) -> Response:
    response = await commitments.request("POST", PATH, json=data.model_dump(mode="json"))
    return relay(commitments, response, SubscriptionRead, location_prefix="/v1")


relayed(router, SUBSCRIPTIONS, Admin)


@router.get(
    PATH + "/{subscription_id:uuid_text}",
    tags=TAGS,
    summary="One webhook subscription (its secret is never shown again)",
    description="Admins only; 404 for an unknown id. The ETag guards a change (PATCH with "
    "If-Match).",
    response_model=SubscriptionRead,
    responses=problem_responses(404, 422),
)
async def get_webhook_subscription(
    subscription_id: IdPath, _: Admin, commitments: Commitments
) -> Response:
    response = await commitments.request("GET", f"{PATH}/{subscription_id}")
    return relay(commitments, response, SubscriptionRead)


@router.patch(
    PATH + "/{subscription_id:uuid_text}",
    tags=TAGS,
    summary="Change, enable or disable a subscription, or rotate its secret",
    description="`enabled: true` resumes a disabled or failing subscription with what it "
    "is owed. With `rotate_secret` the answer carries the new secret, once; the old one "
    "signs beside it (two signatures per delivery) for the overlap the service is set to.",
    response_model=SubscriptionRead,
    responses=problem_responses(404, 413, 422),
)
async def update_webhook_subscription(
    subscription_id: IdPath, data: SubscriptionUpdate, _: Admin, commitments: Commitments
) -> Response:
    body = data.model_dump(mode="json", exclude_unset=True)
    response = await commitments.request("PATCH", f"{PATH}/{subscription_id}", json=body)
    return relay(commitments, response, SubscriptionRead)


@router.delete(
    PATH + "/{subscription_id:uuid_text}",
    tags=TAGS,
    status_code=204,
    summary="Delete a subscription, what it was owed and its deliveries log",
    description="Admins only; 204, then nothing more is sent to its URL. 404 for an unknown "
    "id; a stale If-Match is 412.",
    responses=problem_responses(404, 422),
)
async def delete_webhook_subscription(
    subscription_id: IdPath, _: Admin, commitments: Commitments
) -> Response:
    response = await commitments.request("DELETE", f"{PATH}/{subscription_id}")
    return relay(commitments, response, None)


@router.get(
    PATH + "/{subscription_id:uuid_text}/deliveries",
    tags=TAGS,
    summary="Every delivery attempt, newest first: event, status code, latency, error",
    description="Admins only: why a receiver is failing, attempt by attempt. Keyset-paged "
    "(`next_cursor`); 404 for an unknown subscription.",
    response_model=DeliveryPage,
    responses=listing_responses(DeliveryPage, 404, 422),
)
async def list_webhook_deliveries(
    subscription_id: IdPath,
    _: Admin,
    commitments: Commitments,
    request: Request,
    limit: Limit = 50,
    cursor: TimeCursor = None,
) -> Response:
    response = await commitments.request(
        "GET", f"{PATH}/{subscription_id}/deliveries", params=caller_query(request)
    )
    return listing(request, commitments, response, DeliveryPage)


@router.post(
    PATH + "/{subscription_id:uuid_text}/replays",
    tags=TAGS,
    status_code=202,
    summary="Send one event again, or every event of its types in a time range",
    description="Queued with what is owed, in event order per deal (never beside a delivery "
    "of the same deal in flight); each keeps its event id as "
    "`webhook-id`, so a receiver that has it already can tell. 404 for an unknown event, "
    "422 for one of a type the subscription does not take.",
    response_model=ReplayAnswer,
    responses=problem_responses(404, 413, 422),
)
async def replay_webhook_events(
    subscription_id: IdPath, data: ReplayRequest, _: Admin, commitments: Commitments
) -> Response:
    response = await commitments.request(
        "POST",
        f"{PATH}/{subscription_id}/replays",
        json=data.model_dump(mode="json", exclude_none=True),
    )
    return relay(commitments, response, ReplayAnswer)
