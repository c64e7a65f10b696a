"""CRM webhooks: authenticate the sender by its signature, hand the canonical event to the
commitments service (which takes each event id once), then evaluate the commitments it names
and answer each one's review status.

The event is durably taken before anything is evaluated, so a 2xx never loses it: when the
roadmap cannot be read the commitments wait as evaluation_pending for the sweep, and when
the gateway dies between the two steps the sweep (or the CRM's retry, answered `duplicate`)
evaluates them.
"""

import logging
import re

from fastapi import Request
from pydantic import ValidationError

from gateway.dependencies import Commitments, EvaluatorDep
from gateway.evaluator import Evaluator
from gateway.relay import relay
from gateway.routing import public_router
from gateway.signatures import verify_standard_webhook
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.contracts.commitments import EVENT_ID_PATTERN, CrmEvent, IntakeAnswer, Source
from kit.problems import FieldError, ProblemError, field_problem, problem_responses

router = public_router(authenticated=False)
logger = logging.getLogger("gateway.webhooks")
SIGNATURE_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": text,
    }
    for name, text in (
        ("webhook-id", "The event id: a re-delivery carries the same one."),
        ("webhook-timestamp", "Unix seconds; refused more than 5 minutes from now."),
        ("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256>` signatures."),
    )
]


def parse_event(body: bytes) -> CrmEvent:
    """The canonical event, or a 422 naming every bad field."""
    try:
        return CrmEvent.model_validate_json(body)
    except ValidationError as error:
        errors = [
            FieldError(
                field=".".join(["body", *(str(part) for part in e["loc"])]),
                message=e["msg"],
                type=e["type"],
            )
            for e in error.errors()
        ]
        raise ProblemError(
            422, f"The event has {len(errors)} invalid field(s).", kind="validation", errors=errors
        ) from None


async def take_and_evaluate(
    commitments: Upstream, evaluator: Evaluator, source: str, event_id: str, event: CrmEvent
) -> IntakeAnswer:
    """Hands the event over (taken once per id), then evaluates what it named that is due:
    on a duplicate too, which finishes what a first delivery may have left undone."""
    if not re.match(EVENT_ID_PATTERN, event_id):
        raise field_problem("header.webhook-id", "not a usable event id")
    response = await commitments.request(
        "PUT",
        f"/crm-events/{source}/{event_id}",
        content=event.model_dump_json(),
        headers={"Content-Type": "application/json"},
    )
    if response.status_code != 200:
        relay(commitments, response, None)  # the service's problem with the event, or a 502
        raise UpstreamBroken(commitments.name, f"intake answered {response.status_code}")
    answer = commitments.parse(response, IntakeAnswer)
    if answer.status == "stale":
        return answer
    try:
        recorded = await evaluator.evaluate_now([c.id for c in answer.commitments])
    except (UpstreamUnavailable, UpstreamBroken) as error:
        # The event is taken: it is acknowledged, and the sweep evaluates it later.
        logger.warning("evaluation after intake deferred", extra={"reason": str(error)})
        return answer
    for commitment in answer.commitments:
        if commitment.id in recorded:
            commitment.review_status = recorded[commitment.id].review_status
    return answer


@router.post(
    "/webhooks/generic",
    tags=["webhooks"],
    summary="A deal and its commitments from any CRM, signed per Standard Webhooks",
    description="The body is the canonical event. Answers the deal and each commitment's "
    "review status once evaluated; a re-delivery of an event id already taken answers "
    "`duplicate` (never 409), an event older than the stored deal `stale`. 401 for a bad "
    "signature or a timestamp more than 5 minutes from now; 422 for a signed but malformed "
    "body; 413 for one too large.",
    response_model=IntakeAnswer,
    responses=problem_responses(413, 422),
    openapi_extra={
        "parameters": SIGNATURE_HEADERS,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CrmEvent"}}},
        },
    },
)
async def generic_webhook(
    request: Request, commitments: Commitments, evaluator: EvaluatorDep
) -> IntakeAnswer:
    body = await request.body()
    event_id = verify_standard_webhook(
        request.app.state.settings.webhook_secret, request.headers, body
    )
    event = parse_event(body)
    if event.deal.source is not Source.generic:
        raise field_problem("body.deal.source", "this webhook takes generic events")
    return await take_and_evaluate(commitments, evaluator, "generic", event_id, event)
