"""The CRM connectors' queues, for the gateway (internal)."""

from typing import Literal

from fastapi import Query

from kit.contracts.commitments import Source
from kit.contracts.crm import (
    ClaimedNotifications,
    ClaimedWritebacks,
    NotificationBatch,
    NotificationClaim,
    NotificationPage,
    NotificationSettlement,
    NotificationsTaken,
    Settled,
    WritebackClaim,
    WritebackRead,
    WritebackSettlement,
)
from kit.contracts.parameters import IdPath, Limit
from kit.db import RequestConnection
from kit.problems import not_found, problem_responses
from kit.routing import service_router
from services.commitments.crm import notifications, writebacks

router = service_router()
TAGS = ["crm connectors"]


@router.post(
    "/crm-notifications",
    tags=TAGS,
    summary="Keep a CRM's webhook notifications until what they name is fetched",
    description="Each event id once per source: a re-sent batch stores nothing new. One "
    "given with `ignored_reason` is kept as ignored and never claimed.",
    responses=problem_responses(413, 422),
)
async def store_notifications(
    batch: NotificationBatch, connection: RequestConnection
) -> NotificationsTaken:
    return await notifications.store(connection, batch)


@router.get(
    "/crm-notifications",
    tags=TAGS,
    summary="A CRM's notifications, newest first, with where each stands",
    responses=problem_responses(422),
)
async def list_notifications(
    connection: RequestConnection,
    source: Source,
    limit: Limit = 50,
    status: Literal["pending", "done", "ignored"] | None = Query(None),
) -> NotificationPage:
    items = await notifications.listed(connection, source.value, status, limit)
    return NotificationPage(items=items)


@router.post(
    "/work/crm-notifications/claims",
    tags=TAGS,
    summary="Claim pending notifications that are due, with a lease",
    responses=problem_responses(413, 422),
)
async def claim_notifications(
    request: NotificationClaim, connection: RequestConnection
) -> ClaimedNotifications:
    return await notifications.claim(connection, request)


@router.post(
    "/work/crm-notifications/settlements",
    tags=TAGS,
    summary="Settle claimed notifications: done, ignored with a reason, or due again later",
    responses=problem_responses(413, 422),
)
async def settle_notifications(
    settlement: NotificationSettlement, connection: RequestConnection
) -> Settled:
    return Settled(settled=await notifications.settle(connection, settlement))


@router.post(
    "/work/crm-writebacks/claims",
    tags=TAGS,
    summary="Claim the CRM deals owed their gate, with a lease",
    responses=problem_responses(413, 422),
)
async def claim_writebacks(
    request: WritebackClaim, connection: RequestConnection
) -> ClaimedWritebacks:
    return await writebacks.claim(connection, request)


@router.post(
    "/work/crm-writebacks/settlements",
    tags=TAGS,
    summary="Record the gates written to the CRM, or when to try again",
    responses=problem_responses(413, 422),
)
async def settle_writebacks(
    settlement: WritebackSettlement, connection: RequestConnection
) -> Settled:
    return Settled(settled=await writebacks.settle(connection, settlement))


@router.get(
    "/deals/{deal_id}/crm-writeback",
    tags=TAGS,
    summary="The gate a CRM deal should show, and what was last written there",
    responses=problem_responses(404, 422),
)
async def get_writeback(deal_id: IdPath, connection: RequestConnection) -> WritebackRead:
    found = await writebacks.read(connection, deal_id)
    if found is None:
        raise not_found("crm write-back of deal", deal_id)
    return found
