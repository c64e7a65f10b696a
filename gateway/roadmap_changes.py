"""Where the roadmap service pushes its change log (internal: the service token).

Each change owes a re-check to the commitments it can affect: those linked to a changed
item, and, when a vision tag appears, goes or changes kind, those carrying the tag or linked
to an item carrying it. The re-checks are marked durably in the commitments service before
the delivery is acknowledged (so a crash here means a re-delivery, never a lost re-check);
the sweep is then woken to evaluate them. Marking is idempotent, so re-deliveries are
harmless.
"""

from fastapi import APIRouter, Depends, Request

from gateway.dependencies import Commitments, Roadmap
from gateway.routing import UNAVAILABLE
from gateway.upstream import Upstream, UpstreamBroken
from kit.auth import require_service_token
from kit.contracts.commitments import RecheckAnswer
from kit.contracts.roadmap import ChangeDelivery, ChangeRead, RoadmapItemPage
from kit.problems import problem_responses
from kit.routing import reject_unknown_query_parameters

MAX_KEYS, MAX_TAGS = 1000, 100  # the most one re-check request takes of each
TAG_FIELDS_THAT_MATTER = frozenset({"kind"})

router = APIRouter(
    prefix="/internal",
    dependencies=[Depends(require_service_token), Depends(reject_unknown_query_parameters)],
    responses={**problem_responses(401, 413, 422, 502), **UNAVAILABLE},
)


def _chunks(values: list[str], size: int) -> list[list[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def affected(changes: list[ChangeRead]) -> tuple[set[str], set[str]]:
    """(item keys, tag slugs) whose commitments owe a re-check."""
    keys = {c.key for c in changes if c.entity == "roadmap_item"}
    tags = {
        c.key
        for c in changes
        if c.entity == "vision_tag"
        and (c.operation != "updated" or TAG_FIELDS_THAT_MATTER & set(c.fields))
    }
    return keys, tags


async def items_tagged(roadmap: Upstream, tag: str) -> set[str]:
    keys: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"tag": tag, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await roadmap.request("GET", "/items", params=params)
        if response.status_code != 200:
            raise UpstreamBroken(roadmap.name, f"items by tag answered {response.status_code}")
        page = roadmap.parse(response, RoadmapItemPage)
        keys.update(item.key for item in page.items)
        if page.next_cursor is None:
            return keys
        cursor = page.next_cursor


@router.post(
    "/roadmap-changes",
    tags=["internal"],
    summary="The roadmap service's change deliveries: re-check the commitments they affect",
    description="Acknowledged (200) only once the re-checks are durably marked.",
)
async def take_roadmap_changes(
    delivery: ChangeDelivery, request: Request, commitments: Commitments, roadmap: Roadmap
) -> RecheckAnswer:
    keys, tags = affected(delivery.changes)
    for tag in sorted(tags):
        keys |= await items_tagged(roadmap, tag)
    bodies = [
        *({"roadmap_item_keys": chunk} for chunk in _chunks(sorted(keys), MAX_KEYS)),
        *({"tags": chunk} for chunk in _chunks(sorted(tags), MAX_TAGS)),
    ]
    marked = 0
    for body in bodies:
        response = await commitments.request("POST", "/work/rechecks", json=body, idempotent=True)
        if response.status_code != 200:
            raise UpstreamBroken(commitments.name, f"re-checks answered {response.status_code}")
        marked += commitments.parse(response, RecheckAnswer).marked
    if marked:
        request.app.state.sweeper.wake()
    return RecheckAnswer(marked=marked)
