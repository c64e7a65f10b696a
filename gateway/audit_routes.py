"""/v1/decisions: the decisions audit, for viewers and up, as JSON or CSV."""

from fastapi import Request, Response

from gateway.csv_answers import csv_content, csv_response, wants_csv
from gateway.dependencies import Commitments, Reader
from gateway.relay import caller_query, refuse, relay
from gateway.routing import public_router
from kit.contracts.audit import DecisionOutcome, DecisionRecord, DecisionRecordPage
from kit.contracts.parameters import AreaQuery, Limit, Owner, TimeCursor, TimestampQuery
from kit.problems import problem_responses

router = public_router()
COLUMNS = list(DecisionRecord.model_fields)
CSV_EXAMPLE = (
    ",".join(COLUMNS)
    + "\r\n4e0f9b1c-…,0b8e8c1e-…,5d2b1c7e-…,approve,Fine for the pilot.,Pilot only.,"
    "ben@example.com,pm,ana@example.com,2026-12-01T10:00:00Z,identity,9a8b7c6d-…,default-1,"
    '"{""RM-12"":3}","[{""code"":""date_before_plan"",…}]"\r\n'
)


@router.get(
    "/decisions",
    tags=["decisions"],
    summary="Every decision across commitments, with the roadmap it was decided on",
    description="Oldest first, keyset-paged (`next_cursor`). Filters: `decided_by` (the "
    "decider, or the absent reviewer a delegate stood in for), `area` (the area whose "
    "reviewers decide it, any case), `decision`, `decided_from` (included) and "
    "`decided_until` (not included). Each decision carries the evaluation it decided: "
    "policy, roadmap item versions, and the conflicts with their evidence (item, dates). "
    "With `Accept: text/csv`, the page as CSV (nested values as JSON; the next page in a "
    '`Link: <…>; rel="next"` header).',
    response_model=DecisionRecordPage,
    responses={
        200: {
            "content": csv_content(CSV_EXAMPLE),
            "headers": {
                "Link": {
                    "schema": {"type": "string"},
                    "description": 'CSV: the next page, rel="next".',
                }
            },
        },
        **problem_responses(422),
    },
)
async def list_decisions(
    _: Reader,
    commitments: Commitments,
    request: Request,
    limit: Limit = 50,
    cursor: TimeCursor = None,
    decided_by: Owner = None,
    area: AreaQuery = None,
    decision: DecisionOutcome | None = None,
    decided_from: TimestampQuery = None,
    decided_until: TimestampQuery = None,
) -> Response:
    response = await commitments.request("GET", "/decisions", params=caller_query(request))
    if not wants_csv(request):
        answer = relay(commitments, response, DecisionRecordPage)
    elif response.status_code != 200:
        refuse(commitments, response)
    else:
        page = commitments.parse(response, DecisionRecordPage)
        rows = [item.model_dump(mode="json") for item in page.items]
        answer = csv_response(rows, COLUMNS, request=request, next_cursor=page.next_cursor)
    answer.headers["Vary"] = "Accept"
    return answer
