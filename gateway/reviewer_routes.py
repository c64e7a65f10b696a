"""/v1/reviewers: the directory of who decides which areas' promises (admins write it,
viewers and above read it). The commitments service keeps it and checks it on every
decision."""

from urllib.parse import quote

from fastapi import Response

from gateway.dependencies import Admin, Commitments, Reader
from gateway.relay import preconditions, relay
from gateway.relayed import relayed
from gateway.routing import public_router
from kit.contracts.lists import REVIEWERS
from kit.contracts.parameters import EmailPath
from kit.contracts.reviewers import ReviewerRead, ReviewerWrite
from kit.etags import ETAG_HEADER, IfMatch, with_etag
from kit.problems import problem_responses

router = public_router()
TAGS = ["reviewers"]


def _path(email: str) -> str:
    """The service's path for `email`, escaped: an email may hold "?", "#" or characters a
    URL cannot carry raw."""
    return f"/reviewers/{quote(email, safe='@')}"


@router.put(
    "/reviewers/{email:email}",
    tags=TAGS,
    summary="Put a reviewer in the directory, or replace their entry",
    description="`email` is the reviewer's token `sub`. A PM decides only promises of their "
    "`areas` (a roadmap item's area, or the triage area for promises with no item), and, "
    "while a reviewer is `out_of_office`, their delegate decides theirs. Answers 201 when "
    "created, 200 when replaced; writing what is there already changes nothing. With "
    "If-Match, a stale ETag is refused (412).",
    response_model=ReviewerRead,
    responses=with_etag(
        {
            201: {
                "description": "Created",
                "model": ReviewerRead,
                "headers": {**ETAG_HEADER, "Location": {"schema": {"type": "string"}}},
            },
            **problem_responses(404, 412, 413, 422),
        }
    ),
)
async def put_reviewer(
    email: EmailPath,
    data: ReviewerWrite,
    _: Admin,
    commitments: Commitments,
    if_match: IfMatch = None,
) -> Response:
    response = await commitments.request(
        "PUT",
        _path(email),
        json=data.model_dump(mode="json"),
        headers=preconditions(if_match),
        idempotent=True,
    )
    answer = relay(commitments, response, ReviewerRead)
    if answer.status_code == 201:
        answer.headers["Location"] = "/v1" + _path(email)
    return answer


relayed(router, REVIEWERS, Reader)


@router.get(
    "/reviewers/{email:email}",
    tags=TAGS,
    summary="One reviewer: their areas, escalation contact and absence",
    description="404 when the email is not in the directory. The ETag guards a replacement "
    "(PUT with If-Match).",
    response_model=ReviewerRead,
    responses=with_etag(problem_responses(404, 422)),
)
async def get_reviewer(email: EmailPath, _: Reader, commitments: Commitments) -> Response:
    return relay(commitments, await commitments.request("GET", _path(email)), ReviewerRead)


@router.delete(
    "/reviewers/{email:email}",
    tags=TAGS,
    status_code=204,
    summary="Take a reviewer out of the directory",
    description="From then on they decide nothing (an admin still decides anything). 204 "
    "whether or not they were in it, so a retry is safe; with If-Match, a stale ETag is "
    "refused (412).",
    responses={204: {"description": "Not in the directory"}, **problem_responses(404, 412, 422)},
)
async def remove_reviewer(
    email: EmailPath, _: Admin, commitments: Commitments, if_match: IfMatch = None
) -> Response:
    response = await commitments.request(
        "DELETE", _path(email), headers=preconditions(if_match), idempotent=True
    )
    return relay(commitments, response, None)
