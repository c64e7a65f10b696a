"""The /v1 reads of deals and commitments, the closing gate, PM decisions and links, and
the reports: each checks the caller's role, then asks the commitments service."""

import contextlib

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from gateway.auth import Principal
from gateway.dependencies import (
    Answerer,
    Commitments,
    DealReader,
    EvaluatorDep,
    Reader,
    SweeperDep,
    Writer,
)
from gateway.relay import caller_query, preconditions, refuse, relay
from gateway.relayed import relayed
from gateway.routing import public_router
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.contracts.bulk_decisions import (
    BulkDecisionAnswer,
    BulkDecisionOutcome,
    BulkDecisionRequest,
)
from kit.contracts.commitments import (
    COMMITMENTS,
    DEALS,
    AnswerRequest,
    CommitmentRead,
    DealRead,
    DealReadiness,
    DecisionRequest,
    QuestionRequest,
    ReassignmentRequest,
    RecallRequest,
    RoadmapLink,
    Source,
)
from kit.contracts.parameters import (
    IdPath,
    RequiredExternalId,
)
from kit.contracts.reports import AGING, REPORTS
from kit.etags import ETAG_HEADER, IfMatch, IfNoneMatch, with_etag
from kit.problems import problem_responses, validation_problem

router = public_router()
DECIDERS = ("pm", "admin")  # what a decision records the caller as, the first they hold


def _role(principal: Principal, order: tuple[str, ...]) -> str:
    """The first of `order` the caller holds: what the thread records them as."""
    return next(role for role in order if role in principal.roles)


# Deals -----------------------------------------------------------------------------------


relayed(router, DEALS, DealReader)


@router.get(
    "/deals/{deal_id:uuid_text}",
    tags=["deals"],
    summary="One deal",
    description="The deal as its CRM last sent it: name, account, amount and currency, stage, "
    "expected close, owner. Its promises are at `/v1/commitments?deal_id=`, and "
    "whether it may close at `/v1/deals/{deal_id}/readiness`. The CRM role may "
    "ask.",
    response_model=DealRead,
    responses=problem_responses(404, 422),
)
async def get_deal(deal_id: IdPath, _: DealReader, commitments: Commitments) -> Response:
    response = await commitments.request("GET", f"/deals/{deal_id}")
    return relay(commitments, response, DealRead)


@router.get(
    "/deals/readiness",
    tags=["deals"],
    summary="The closing gate, addressed by the CRM's own deal id",
    description="As `/v1/deals/{deal_id}/readiness`, for a CRM's own check that knows only "
    "its id: `?source=hubspot&external_id=123`. The CRM role may ask.",
    response_model=DealReadiness,
    responses=problem_responses(404, 422),
)
async def get_deal_readiness_by_crm_id(
    source: Source,
    external_id: RequiredExternalId,
    _: DealReader,
    commitments: Commitments,
    request: Request,
) -> Response:
    response = await commitments.request("GET", "/deals/readiness", params=caller_query(request))
    return relay(commitments, response, DealReadiness)


@router.get(
    "/deals/{deal_id:uuid_text}/readiness",
    tags=["deals"],
    summary="The closing gate: may the deal close, and what blocks it",
    description="Ready when every commitment not withdrawn is cleared or approved; "
    "`blocking` lists the others with their conflicts. The CRM role may ask.",
    response_model=DealReadiness,
    responses=problem_responses(404, 422),
)
async def get_deal_readiness(deal_id: IdPath, _: DealReader, commitments: Commitments) -> Response:
    response = await commitments.request("GET", f"/deals/{deal_id}/readiness")
    return relay(commitments, response, DealReadiness)


# Commitments -----------------------------------------------------------------------------


relayed(router, COMMITMENTS, Reader)


@router.get(
    "/commitments/{commitment_id:uuid_text}",
    tags=["commitments"],
    summary="One commitment with its deal, conflicts, evaluations and decisions",
    description="Everything a reviewer needs: the promise, its deal, the current conflicts "
    "with their evidence, every evaluation and decision, the approval chain (who "
    "approved each step, whose turn it is) and the thread of questions and "
    "answers. The ETag is the commitment's version: send it as If-Match with a "
    "decision so a change made meanwhile is refused (412), or as If-None-Match to "
    "get 304 when nothing changed.",
    response_model=CommitmentRead,
    responses=with_etag(
        {
            304: {"description": "Unchanged since the ETag given", "headers": ETAG_HEADER},
            **problem_responses(404, 422),
        }
    ),
)
async def get_commitment(
    commitment_id: IdPath,
    _: Reader,
    commitments: Commitments,
    if_none_match: IfNoneMatch = None,
) -> Response:
    headers = {"If-None-Match": if_none_match} if if_none_match is not None else {}
    response = await commitments.request("GET", f"/commitments/{commitment_id}", headers=headers)
    return relay(commitments, response, CommitmentRead)


@router.post(
    "/commitments/{commitment_id:uuid_text}/decision",
    tags=["commitments"],
    summary="A PM approves or rejects what the current evaluation found",
    description="Only while it awaits sign-off (else 409). With If-Match, a stale ETag is "
    "refused (412). A rejection needs a comment; `conditions_expire_on` only comes with "
    "an approval's conditions. The decision history records the token's `sub`. The "
    "promise's approval chain (`approval` in its read) says who decides: the step whose "
    "turn it is approves, by one of its named approvers or, for an area step, a PM of the "
    "promise's area in the reviewers directory (the evaluation's `review_area`); an "
    "out-of-office approver's delegate (recorded `on_behalf_of`); whoever the step was "
    "reassigned to. Anyone else gets 403 with the reason; one person approves one step of "
    "a chain (403); an approver of a later step approving early gets 409. A rejection may "
    "come from an approver of any step not yet approved, and rejects. An admin decides "
    "anything, at the step whose turn it is. The commitment stays `needs_signoff` until "
    "its last step approves. Answers the commitment as GET shows it.",
    response_model=CommitmentRead,
    responses=with_etag(problem_responses(403, 404, 409, 412, 413, 422)),
)
async def decide(
    commitment_id: IdPath,
    data: DecisionRequest,
    principal: Writer,
    commitments: Commitments,
    sweeper: SweeperDep,
    if_match: IfMatch = None,
) -> Response:
    body = {
        **data.model_dump(mode="json"),
        "decided_by": principal.sub,
        "role": _role(principal, DECIDERS),
    }
    response = await commitments.request(
        "POST",
        f"/commitments/{commitment_id}/decisions",
        json=body,
        headers=preconditions(if_match),
    )
    if response.status_code == 200:
        # An evaluation under way saw the undecided commitment: the decision made its work
        # due, and until it is done again the deal's gate stays shut.
        sweeper.wake()
    return relay(commitments, response, CommitmentRead)


async def _comment(
    commitments: Upstream, commitment_id: str, body: dict, if_match: str | None
) -> Response:
    response = await commitments.request(
        "POST",
        f"/commitments/{commitment_id}/comments",
        json=body,
        headers=preconditions(if_match),
    )
    return relay(commitments, response, CommitmentRead)


@router.post(
    "/commitments/{commitment_id:uuid_text}/questions",
    tags=["commitments"],
    summary="Ask the rep a question instead of deciding",
    description="Whoever may decide the commitment may ask (see the decision). It moves to "
    "`info_requested` (still blocking its deal; it may still be decided), the question joins "
    "its thread (`comments`), and `commitment.info_requested` tells the rep. 409 unless it "
    "awaits sign-off or a question already; If-Match honoured (412).",
    response_model=CommitmentRead,
    responses=with_etag(problem_responses(403, 404, 409, 412, 413, 422)),
)
async def ask(
    commitment_id: IdPath,
    data: QuestionRequest,
    principal: Writer,
    commitments: Commitments,
    if_match: IfMatch = None,
) -> Response:
    body = {"kind": "question", "body": data.question, "author": principal.sub,
            "role": _role(principal, DECIDERS)}  # fmt: skip
    return await _comment(commitments, commitment_id, body, if_match)


@router.post(
    "/commitments/{commitment_id:uuid_text}/answers",
    tags=["commitments"],
    summary="Answer the reviewer's question; the commitment goes back in the queue",
    description="For the rep: through the CRM's API key (crm role), or a PM or admin "
    "relaying it. The answer joins the thread, the commitment awaits sign-off again, and "
    "`commitment.answered` tells the reviewers. 409 when no question awaits an answer.",
    response_model=CommitmentRead,
    responses=with_etag(problem_responses(403, 404, 409, 412, 413, 422)),
)
async def answer(
    commitment_id: IdPath,
    data: AnswerRequest,
    principal: Answerer,
    commitments: Commitments,
    if_match: IfMatch = None,
) -> Response:
    body = {"kind": "answer", "body": data.answer, "author": principal.sub,
            "role": _role(principal, ("crm", "pm", "admin"))}  # fmt: skip
    return await _comment(commitments, commitment_id, body, if_match)


@router.post(
    "/commitments/{commitment_id:uuid_text}/recall",
    tags=["commitments"],
    summary="Withdraw your own decision, soon after taking it",
    description="Only the person who took the latest decision, within "
    "DEALGATE_RECALL_WINDOW_MINUTES of it (else 403, or 409 once the window has passed). "
    "The commitment awaits sign-off again (`commitment.reopened`, with the recall as the "
    "reason); the decision stays in the history and the recall joins the thread.",
    response_model=CommitmentRead,
    responses=with_etag(problem_responses(403, 404, 409, 412, 413, 422)),
)
async def recall(
    commitment_id: IdPath,
    data: RecallRequest,
    principal: Writer,
    commitments: Commitments,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    window = request.app.state.settings.recall_window_minutes * 60
    body = {"kind": "recall", "body": data.reason, "author": principal.sub,
            "role": _role(principal, DECIDERS), "recall_window_seconds": window}  # fmt: skip
    return await _comment(commitments, commitment_id, body, if_match)


@router.post(
    "/commitments/{commitment_id:uuid_text}/reassignment",
    tags=["commitments"],
    summary="Hand the step whose turn it is to another reviewer",
    description="An approver of the step whose turn it is (see the decision), or an admin, "
    "hands that step to someone in the reviewers directory (else 422): the assignee may "
    "then act at it until the turn ends (a decision, or a new evaluation), shown as "
    "`approval.assigned_to` and first of `approval.next_approvers`. The reassignment joins "
    "the thread and `commitment.reassigned` tells the assignee. 409 unless it awaits "
    "sign-off or an answer, and for a step that needs each of its approvers; If-Match "
    "honoured (412).",
    response_model=CommitmentRead,
    responses=with_etag(problem_responses(403, 404, 409, 412, 413, 422)),
)
async def reassign(
    commitment_id: IdPath,
    data: ReassignmentRequest,
    principal: Writer,
    commitments: Commitments,
    if_match: IfMatch = None,
) -> Response:
    body = {"kind": "reassignment", "body": data.reason, "assignee": data.assignee,
            "author": principal.sub, "role": _role(principal, DECIDERS)}  # fmt: skip
    return await _comment(commitments, commitment_id, body, if_match)


@router.post(
    "/commitments/decisions",
    tags=["commitments"],
    summary="Decide up to 100 commitments at once, each on its own",
    description="Each item is what `POST /v1/commitments/{id}/decision` takes, with the "
    "commitment's id and, optionally, the ETag it was read at (`if_match`). Each is taken "
    "or refused on its own: one item's refusal never undoes another's. Answers 200 with "
    "the items in the order asked, each with the status the single decision would have had "
    "(200 with the commitment; 403, 404, 409, 412 or 422 with the problem). A request the "
    "schema refuses (no items, more than 100, a malformed id) is a 422 and decides nothing.",
    response_model=BulkDecisionAnswer,
    responses=problem_responses(413, 422),
)
async def decide_all(
    data: BulkDecisionRequest,
    principal: Writer,
    commitments: Commitments,
    sweeper: SweeperDep,
) -> Response:
    role = _role(principal, DECIDERS)
    refused: dict[int, BulkDecisionOutcome] = {}
    sent: list[tuple[int, dict]] = []
    for index, item in enumerate(data.items):
        asked = {"decision": item.decision, "comment": item.comment or "",
                 "conditions": item.conditions or "",
                 "conditions_expire_on": item.conditions_expire_on}  # fmt: skip
        try:
            asked = DecisionRequest.model_validate(asked).model_dump(mode="json")
        except ValidationError as error:
            problem = validation_problem(error.errors(), ("body", "items", str(index)))
            refused[index] = BulkDecisionOutcome(
                commitment_id=item.commitment_id, status=422, problem=problem.problem()
            )
            continue
        sent.append((index, {**asked, "commitment_id": item.commitment_id,
                             "if_match": item.if_match, "decided_by": principal.sub,
                             "role": role}))  # fmt: skip
    outcomes = dict(refused)
    if sent:
        response = await commitments.request(
            "POST", "/commitments/decisions", json={"items": [body for _, body in sent]}
        )
        if response.status_code != 200:
            refuse(commitments, response)
        answered = commitments.parse(response, BulkDecisionAnswer).items
        outcomes.update(zip((index for index, _ in sent), answered, strict=True))
        if any(outcome.status == 200 for outcome in answered):
            sweeper.wake()  # as for one decision: an evaluation under way must run again
    answer = BulkDecisionAnswer(items=[outcomes[index] for index in range(len(data.items))])
    return JSONResponse(answer.model_dump(mode="json"))


@router.put(
    "/commitments/{commitment_id:uuid_text}/roadmap-link",
    tags=["commitments"],
    summary="A PM links the commitment to a roadmap item; it is evaluated at once",
    description="The link stands until the CRM sends a different, non-empty key. 409 for a "
    "rejected or withdrawn commitment. Answers the commitment after its evaluation (or "
    "evaluation_pending, when the roadmap cannot be read now).",
    response_model=CommitmentRead,
    responses=with_etag(problem_responses(404, 409, 412, 413, 422)),
)
async def link_roadmap_item(
    commitment_id: IdPath,
    data: RoadmapLink,
    _: Writer,
    commitments: Commitments,
    evaluator: EvaluatorDep,
    if_match: IfMatch = None,
) -> Response:
    linked = await commitments.request(
        "PUT",
        f"/commitments/{commitment_id}/roadmap-link",
        json=data.model_dump(),
        headers=preconditions(if_match),
    )
    if linked.status_code != 200:
        return relay(commitments, linked, CommitmentRead)
    # The link is saved and the work owed: if evaluating fails now, the sweep evaluates it.
    with contextlib.suppress(UpstreamUnavailable, UpstreamBroken):
        await evaluator.evaluate_now([commitment_id])
    response = await commitments.request("GET", f"/commitments/{commitment_id}")
    return relay(commitments, response, CommitmentRead)


# Reports ---------------------------------------------------------------------------------


def _sla_hours(request: Request) -> list[tuple[str, int]]:
    return [("sla_hours", request.app.state.settings.signoff_sla_hours)]


for report in REPORTS:
    relayed(router, report, Reader, added=_sla_hours if report is AGING else None)
