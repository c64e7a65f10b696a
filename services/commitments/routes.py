"""The commitments service's HTTP API (internal: every route needs the service token)."""

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.convertors import register_url_convertor

from kit.contracts import reports as report_contracts
from kit.contracts.api_keys import (
    ApiKeyLookup,
    ApiKeyPage,
    ApiKeyRead,
    ApiKeyRecord,
)
from kit.contracts.audit import DecisionOutcome, DecisionRecordPage
from kit.contracts.bulk_decisions import BulkDecisionAnswer, DecisionBatch
from kit.contracts.commitments import (
    COMMITMENTS,
    DEALS,
    EVENT_ID_PATTERN,
    ClaimedWork,
    ClaimRequest,
    CommentCreate,
    CommitmentPage,
    CommitmentRead,
    CommitmentServiceQuery,
    CrmEvent,
    DealPage,
    DealQuery,
    DealRead,
    DealReadiness,
    DecisionCreate,
    EvaluationBatch,
    EvaluationBatchAnswer,
    EvaluationCreate,
    IntakeClaimed,
    PageQuery,
    RecheckAnswer,
    RecheckRequest,
    RoadmapLink,
    Source,
)
from kit.contracts.events import (
    ConditionExpiryAnswer,
    ConditionExpiryRequest,
    SignoffAlertAnswer,
    SignoffAlertRequest,
)
from kit.contracts.lists import API_KEYS, REVIEWERS, ReviewerQuery
from kit.contracts.parameters import (
    AreaQuery,
    EmailPath,
    IdPath,
    Limit,
    Owner,
    RequiredExternalId,
    TimeCursor,
    TimestampQuery,
)
from kit.contracts.relayed import served
from kit.contracts.reports import (
    AgingReport,
    AgingServiceQuery,
    ConflictReport,
    Ledger,
    LedgerQuery,
    ReportFilters,
    Summary,
    Trend,
    TrendQuery,
)
from kit.contracts.reviewers import (
    ReviewerPage,
    ReviewerRead,
    ReviewerWrite,
)
from kit.db import RequestConnection
from kit.etags import ETAG_HEADER, IfMatch, IfNoneMatch, if_none_match_hits, strong_etag, with_etag
from kit.problems import field_problem, problem_responses
from kit.routing import PatternConvertor, service_router
from services.commitments import (
    alerts,
    api_keys,
    audit,
    events,
    expiry,
    questions,
    reads,
    reports,
    reviewers,
    reviews,
    work,
)
from services.commitments.crm import routes as crm_routes
from services.commitments.outbound import routes as outbound_routes
from services.commitments.records import get_commitment, get_deal

# Only a well-formed event id routes to intake; anything else is a 404.
register_url_convertor("event_id", PatternConvertor(EVENT_ID_PATTERN))

EventIdPath = Annotated[
    str, Path(pattern=EVENT_ID_PATTERN, examples=["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"])
]

router = service_router()
router.include_router(outbound_routes.router)
router.include_router(crm_routes.router)


async def _handoff_grace(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.handoff_grace_seconds)


HandOff = Annotated[timedelta, Depends(_handoff_grace)]


# CRM events ----------------------------------------------------------------------------


@router.put(
    "/crm-events/{source}/{event_id:event_id}",
    tags=["crm events"],
    summary="Take one CRM event (a deal and its commitments), exactly once",
    description="A repeat of an event id already taken answers `duplicate` with the first "
    "answer and writes nothing; an event older than the stored deal answers `stale`. "
    "An event id that is not well-formed routes nowhere (404).",
    responses=problem_responses(404, 413, 422),
)
async def take_crm_event(
    source: Source,
    event_id: Annotated[
        str, Path(pattern=EVENT_ID_PATTERN, examples=["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"])
    ],
    event: CrmEvent,
    connection: RequestConnection,
    handoff: HandOff,
    claim_lease_seconds: Annotated[
        int | None,
        Query(
            ge=1,
            le=3600,
            description="Also claim the event's commitments owed an evaluation, with this "
            "lease, for the caller to evaluate (answered as `claimed`).",
        ),
    ] = None,
) -> IntakeClaimed:
    if event.deal.source is not source:
        raise field_problem("body.deal.source", f"the event came from {source.value}")
    answer = await events.take_event(connection, source.value, event_id, event, handoff)
    claimed = []
    if claim_lease_seconds is not None and answer.status != "stale" and answer.commitments:
        ids = [commitment.id for commitment in answer.commitments]
        # Unvalidated: a deal may have gathered more commitments than a caller may name.
        claimed = await work.claim(
            connection,
            ClaimRequest.model_construct(
                limit=len(ids),
                lease_seconds=claim_lease_seconds,
                commitment_ids=ids,
                roadmap_item_keys=None,
                retry_waiting=False,
            ),
        )
    return IntakeClaimed(**answer.model_dump(), claimed=claimed)


# Deals -----------------------------------------------------------------------------------


@served(router, DEALS)
async def list_deals(
    asked: Annotated[DealQuery, Query()], connection: RequestConnection
) -> DealPage:
    return await reads.list_deals(connection, asked)


@router.get(
    "/deals/{deal_id:uuid_text}",
    tags=["deals"],
    summary="One deal",
    responses=problem_responses(404, 422),
)
async def get_one_deal(deal_id: IdPath, connection: RequestConnection) -> DealRead:
    return await get_deal(connection, deal_id)


@router.get(
    "/deals/readiness",
    tags=["deals"],
    summary="May the deal close? The gate addressed by the CRM's own deal id",
    description="As `/deals/{deal_id}/readiness`, for a CRM that knows only its own id.",
    responses=problem_responses(404, 422),
)
async def get_deal_readiness_by_crm_id(
    source: Source, external_id: RequiredExternalId, connection: RequestConnection
) -> DealReadiness:
    return await reads.readiness_by_crm_id(connection, source.value, external_id)


@router.get(
    "/deals/{deal_id:uuid_text}/readiness",
    tags=["deals"],
    summary="May the deal close? Its blocking commitments with their conflicts",
    description="Ready when every commitment not withdrawn is cleared or approved.",
    responses=problem_responses(404, 422),
)
async def get_deal_readiness(deal_id: IdPath, connection: RequestConnection) -> DealReadiness:
    return await reads.readiness(connection, deal_id)


# Commitments -----------------------------------------------------------------------------


@served(router, COMMITMENTS)
async def list_commitments(
    asked: Annotated[CommitmentServiceQuery, Query()], connection: RequestConnection
) -> CommitmentPage:
    return await reads.list_commitments(connection, asked)


async def _answer(
    connection: AsyncConnection, commitment_id: str, response: Response
) -> CommitmentRead:
    commitment = await get_commitment(connection, commitment_id)
    response.headers["ETag"] = strong_etag(commitment.version)
    return commitment


@router.get(
    "/commitments/{commitment_id:uuid_text}",
    tags=["commitments"],
    summary="One commitment with its deal, conflicts, evaluations and decisions",
    response_model=CommitmentRead,
    responses=with_etag(
        {
            304: {"description": "Unchanged since the ETag given", "headers": ETAG_HEADER},
            **problem_responses(404, 422),
        }
    ),
)
async def get_one_commitment(
    commitment_id: IdPath,
    connection: RequestConnection,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> CommitmentRead | Response:
    commitment = await _answer(connection, commitment_id, response)
    if if_none_match_hits(if_none_match, response.headers["ETag"]):
        return Response(status_code=304, headers={"ETag": response.headers["ETag"]})
    return commitment


@router.post(
    "/commitments/{commitment_id:uuid_text}/evaluations",
    tags=["commitments"],
    summary="Record an evaluation; the review lifecycle decides the status",
    description="An evaluation whose fingerprint equals the current one changes nothing. "
    "A `roadmap_unreachable` outcome parks a first evaluation as evaluation_pending and "
    "keeps the work due. 409 when the commitment changed since the version evaluated.",
    responses=with_etag(problem_responses(404, 409, 413, 422)),
)
async def record_evaluation(
    commitment_id: IdPath,
    data: EvaluationCreate,
    connection: RequestConnection,
    response: Response,
) -> CommitmentRead:
    await reviews.record_evaluation(connection, commitment_id, data)
    return await _answer(connection, commitment_id, response)


@router.post(
    "/commitments/{commitment_id:uuid_text}/decisions",
    tags=["commitments"],
    summary="A PM approves or rejects what the current evaluation found",
    description="Only from needs_signoff (else 409); If-Match honoured (412); a rejection "
    "needs a comment. Repeating the decision just taken answers 200 and writes nothing. "
    "A PM decides only promises of their areas, or of an out-of-office reviewer who made "
    "them delegate (recorded as on their behalf); else 403. An admin decides anything.",
    responses=with_etag(problem_responses(403, 404, 409, 412, 413, 422)),
)
async def decide(
    commitment_id: IdPath,
    data: DecisionCreate,
    connection: RequestConnection,
    response: Response,
    if_match: IfMatch = None,
) -> CommitmentRead:
    await reviews.decide(connection, commitment_id, data, if_match)
    return await _answer(connection, commitment_id, response)


@router.post(
    "/commitments/{commitment_id:uuid_text}/comments",
    tags=["commitments"],
    summary="A question to the rep, the rep's answer, or a recalled decision",
    description="`question`: needs_signoff to info_requested (403 unless the author may "
    "decide it); `answer`: back to needs_signoff; `recall`: the latest decision's author, "
    "within `recall_window_seconds` (403 for anyone else, 409 after), back to "
    "needs_signoff. 409 where the lifecycle refuses it; If-Match honoured (412). The same "
    "again, once taken, answers 200 and writes nothing.",
    responses=with_etag(problem_responses(403, 404, 409, 412, 413, 422)),
)
async def add_comment(
    commitment_id: IdPath,
    data: CommentCreate,
    connection: RequestConnection,
    response: Response,
    if_match: IfMatch = None,
) -> CommitmentRead:
    await questions.add(connection, commitment_id, data, if_match)
    return await _answer(connection, commitment_id, response)


@router.post(
    "/commitments/decisions",
    tags=["commitments"],
    summary="Several PM decisions, each taken or refused on its own",
    description="Each as `POST /commitments/{id}/decisions` takes it, with its If-Match; a "
    "refused one (403, 404, 409, 412) undoes only itself. Answered in the order asked.",
    responses=problem_responses(413, 422),
)
async def decide_all(batch: DecisionBatch, connection: RequestConnection) -> BulkDecisionAnswer:
    return await reviews.decide_all(connection, batch)


@router.put(
    "/commitments/{commitment_id:uuid_text}/roadmap-link",
    tags=["commitments"],
    summary="A PM links the commitment to a roadmap item; it is evaluated again",
    description="The link stands until the CRM sends a different, non-empty key. 409 for a "
    "rejected or withdrawn commitment.",
    responses=with_etag(problem_responses(404, 409, 412, 413, 422)),
)
async def link_roadmap_item(
    commitment_id: IdPath,
    data: RoadmapLink,
    connection: RequestConnection,
    response: Response,
    handoff: HandOff,
    if_match: IfMatch = None,
) -> CommitmentRead:
    await reviews.relink(connection, commitment_id, data.roadmap_item_key, if_match, handoff)
    return await _answer(connection, commitment_id, response)


# Evaluation work queue -----------------------------------------------------------------


@router.post(
    "/work/evaluations",
    tags=["work queue"],
    summary="Record the evaluations of a claimed batch in one transaction",
    description="Each as `POST /commitments/{id}/evaluations` records it; one whose claim "
    "no longer holds (or whose commitment is gone) is answered `recorded: false` with the "
    "reason, and the others are recorded. Safe to repeat: a repeat finds the claims "
    "released.",
    responses=problem_responses(413, 422),
)
async def record_evaluations(
    batch: EvaluationBatch, connection: RequestConnection
) -> EvaluationBatchAnswer:
    return await reviews.record_evaluations(connection, batch)


@router.post(
    "/work/claims",
    tags=["work queue"],
    summary="Claim commitments owed an evaluation, with a lease",
    description="Due and unclaimed (or lease-expired) commitments, oldest due first. "
    "Recording an evaluation releases the claim.",
    responses=problem_responses(413, 422),
)
async def claim_work(request: ClaimRequest, connection: RequestConnection) -> ClaimedWork:
    return ClaimedWork(items=await work.claim(connection, request))


@router.post(
    "/work/rechecks",
    tags=["work queue"],
    summary="Owe a re-check to the commitments a roadmap change concerns",
    description="Marked commitments block their deal's readiness until evaluated again. "
    "A change given with its version is marked once however often it comes (the gateway "
    "marks it as it is written, the roadmap's change feed brings it again).",
    responses=problem_responses(413, 422),
)
async def mark_rechecks(request: RecheckRequest, connection: RequestConnection) -> RecheckAnswer:
    return RecheckAnswer(marked=await work.mark_rechecks(connection, request))


@router.post(
    "/work/signoff-alerts",
    tags=["work queue"],
    summary="Send the sign-off reminders and overdue alerts due now",
    description="Each threshold of the SLA is told once per commitment and evaluation, as a "
    "`signoff.reminder` or `signoff.overdue` event; one found past several at once is told "
    "only the latest. Safe to call from every gateway replica.",
    responses=problem_responses(413, 422),
)
async def send_signoff_alerts(
    request: SignoffAlertRequest, connection: RequestConnection, http: Request
) -> SignoffAlertAnswer:
    return SignoffAlertAnswer(
        sent=await alerts.send_due_alerts(connection, request, http.app.state.clock())
    )


@router.post(
    "/work/condition-expiries",
    tags=["work queue"],
    summary="Lapse the approvals whose conditions have expired",
    description="An approval whose `conditions_expire_on` has come (a UTC day) lapses: an "
    "approved commitment awaits sign-off again (`commitment.reopened`, with that reason); "
    "one still awaiting has that step of its chain asked again. Safe to call from every "
    "gateway replica.",
    responses=problem_responses(413, 422),
)
async def lapse_expired_conditions(
    request: ConditionExpiryRequest, connection: RequestConnection, http: Request
) -> ConditionExpiryAnswer:
    now = http.app.state.clock()
    moved = await expiry.lapse_expired(connection, now.date(), now, request.limit)
    return ConditionExpiryAnswer(moved=moved)


# API keys ----------------------------------------------------------------------------------


@router.post(
    "/api-keys",
    tags=["api keys"],
    status_code=201,
    summary="Keep a new API key's hash, name and roles",
    responses=problem_responses(409, 413, 422),
)
async def create_api_key(record: ApiKeyRecord, connection: RequestConnection) -> ApiKeyRead:
    return await api_keys.create(connection, record)


@served(router, API_KEYS)
async def list_api_keys(
    asked: Annotated[PageQuery, Query()], connection: RequestConnection
) -> ApiKeyPage:
    return await api_keys.list_page(connection, limit=asked.limit, cursor=asked.cursor)


@router.get(
    "/api-keys/{key_id:uuid_text}",
    tags=["api keys"],
    summary="One API key (never the key itself)",
    responses=problem_responses(404, 422),
)
async def get_api_key(key_id: IdPath, connection: RequestConnection) -> ApiKeyRead:
    return await api_keys.get(connection, key_id)


@router.delete(
    "/api-keys/{key_id:uuid_text}",
    tags=["api keys"],
    summary="Revoke an API key (repeating it changes nothing)",
    responses=problem_responses(404, 422),
)
async def revoke_api_key(key_id: IdPath, connection: RequestConnection) -> ApiKeyRead:
    return await api_keys.revoke(connection, key_id)


@router.post(
    "/api-keys/lookups",
    tags=["api keys"],
    summary="Who holds the key with this hash; records its use",
    description="404 for a key unknown or revoked.",
    responses=problem_responses(404, 413, 422),
)
async def look_up_api_key(lookup: ApiKeyLookup, connection: RequestConnection) -> ApiKeyRead:
    return await api_keys.look_up(connection, lookup.key_hash)


# Decisions audit -------------------------------------------------------------------------


@router.get(
    "/decisions",
    tags=["decisions"],
    summary="Every decision, oldest first, with the evaluation it decided",
    description="Filters: `decided_by` (the decider, or the reviewer a delegate stood in "
    "for), `area` (any case), `decision`, `decided_from` (included) and `decided_until` (not "
    "included). Keyset-paged by decision time.",
    responses=problem_responses(422),
)
async def list_decisions(
    connection: RequestConnection,
    limit: Limit = 50,
    cursor: TimeCursor = None,
    decided_by: Owner = None,
    area: AreaQuery = None,
    decision: DecisionOutcome | None = None,
    decided_from: TimestampQuery = None,
    decided_until: TimestampQuery = None,
) -> DecisionRecordPage:
    return await audit.decision_page(
        connection,
        limit=limit,
        cursor=cursor,
        decided_by=decided_by,
        area=area,
        decision=decision,
        decided_from=decided_from,
        decided_until=decided_until,
    )


# Reviewers -------------------------------------------------------------------------------


@router.put(
    "/reviewers/{email:email}",
    tags=["reviewers"],
    summary="Create or replace a reviewer's entry in the directory",
    description="Answers 201 when created, 200 when replaced or already so (a retry "
    "changes nothing). If-Match honoured (412).",
    status_code=200,
    responses=with_etag({201: {"description": "Created", "headers": ETAG_HEADER},
                         **problem_responses(404, 412, 413, 422)}),
)  # fmt: skip
async def put_reviewer(
    email: EmailPath,
    data: ReviewerWrite,
    connection: RequestConnection,
    response: Response,
    if_match: IfMatch = None,
) -> ReviewerRead:
    reviewer, created = await reviewers.put(connection, email, data, if_match)
    response.headers["ETag"] = strong_etag(reviewer.version)
    if created:
        response.status_code = 201
    return reviewer


@served(router, REVIEWERS)
async def list_reviewers(
    asked: Annotated[ReviewerQuery, Query()], connection: RequestConnection
) -> ReviewerPage:
    return await reviewers.list_page(
        connection, limit=asked.limit, cursor=asked.cursor, area=asked.area
    )


@router.get(
    "/reviewers/{email:email}",
    tags=["reviewers"],
    summary="One reviewer's entry",
    responses=with_etag(problem_responses(404, 422)),
)
async def get_reviewer(
    email: EmailPath, connection: RequestConnection, response: Response
) -> ReviewerRead:
    reviewer = await reviewers.get(connection, email)
    response.headers["ETag"] = strong_etag(reviewer.version)
    return reviewer


@router.delete(
    "/reviewers/{email:email}",
    tags=["reviewers"],
    status_code=204,
    summary="Remove a reviewer from the directory",
    description="204 whether or not they were in it (a retry is safe); If-Match honoured.",
    responses=problem_responses(404, 412, 422),
)
async def remove_reviewer(
    email: EmailPath, connection: RequestConnection, if_match: IfMatch = None
) -> None:
    await reviewers.remove(connection, email, if_match)


# Reports ---------------------------------------------------------------------------------


@served(router, report_contracts.SUMMARY)
async def report_summary(
    filters: Annotated[ReportFilters, Query()], connection: RequestConnection
) -> Summary:
    return await reports.summary(connection, filters)


@served(router, report_contracts.CONFLICTS)
async def report_conflicts(
    filters: Annotated[ReportFilters, Query()], connection: RequestConnection
) -> ConflictReport:
    return await reports.conflicts(connection, filters)


@served(router, report_contracts.AGING)
async def report_aging(
    asked: Annotated[AgingServiceQuery, Query()], connection: RequestConnection
) -> AgingReport:
    return await reports.aging(connection, asked)


@served(router, report_contracts.LEDGER)
async def report_ledger(
    asked: Annotated[LedgerQuery, Query()], connection: RequestConnection
) -> Ledger:
    return await reports.ledger(connection, asked)


@served(router, report_contracts.TREND)
async def report_trend(
    asked: Annotated[TrendQuery, Query()], connection: RequestConnection
) -> Trend:
    return await reports.trend(connection, asked)
