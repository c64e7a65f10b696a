"""Roadmap changes owe re-checks: marked by the gateway as it writes a change to the roadmap
(before it answers the writer), and again from the roadmap service's change log, which it
pushes here (internal: the service token) and which also carries changes made elsewhere.

Each change owes a re-check to the commitments it can affect: those linked to a changed
item, and, when a vision tag appears, goes or changes kind, those carrying the tag or linked
to an item carrying it. The re-checks are marked durably in the commitments service before
the write or the delivery is acknowledged (so a crash here means a re-delivery, never a lost
re-check), and a marked commitment blocks its deal until it is evaluated again: once a
roadmap write is answered, no readiness read answers from the state it overtook. The sweep
is then woken to evaluate them. A change is marked with its version, so the change log
bringing one the gateway marked already marks nothing more.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from gateway.evaluator import Sweeper
from gateway.routing import UNAVAILABLE
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.auth import require_service_token
from kit.contracts.commitments import RecheckAnswer, RoadmapChangeMark
from kit.contracts.roadmap import ChangeDelivery, ChangeRead, RoadmapItemPage
from kit.problems import problem_responses
from kit.routing import reject_unknown_query_parameters, require_declared_content_type

MAX_CHANGES, MAX_KEYS = 100, 1000  # the most one re-check request takes
TAG_FIELDS_THAT_MATTER = frozenset({"kind"})

router = APIRouter(
    prefix="/internal",
    dependencies=[
        Depends(require_service_token),
        Depends(reject_unknown_query_parameters),
        Depends(require_declared_content_type),
    ],
    responses={**problem_responses(401, 413, 422, 502), **UNAVAILABLE},
)


def item_changed(key: str, version: int | None) -> RoadmapChangeMark:
    """An item created, changed (its new version) or deleted (None)."""
    return RoadmapChangeMark(entity="roadmap_item", key=key, version=version)


def tag_changed(slug: str, version: int | None) -> RoadmapChangeMark:
    """A tag created, changed in kind (its new version) or deleted (None)."""
    return RoadmapChangeMark(entity="vision_tag", key=slug, version=version)


def marks_of(changes: list[ChangeRead]) -> list[RoadmapChangeMark]:
    """The re-checks a page of the change log owes (a tag's items not yet looked up)."""
    return [
        RoadmapChangeMark(entity=change.entity, key=change.key, version=change.new_version)
        for change in changes
        if change.entity == "roadmap_item"
        or change.operation != "updated"
        or TAG_FIELDS_THAT_MATTER & set(change.fields)
    ]


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


class Rechecks:
    """Marks the re-checks roadmap changes owe, durably, then wakes the sweep."""

    def __init__(self, commitments: Upstream, roadmap: Upstream, sweeper: Sweeper) -> None:
        self.commitments, self.roadmap, self.sweeper = commitments, roadmap, sweeper

    async def mark(self, marks: list[RoadmapChangeMark]) -> int:
        """Answers how many commitments were marked. A tag's items are looked up first,
        since their commitments are owed the re-check too."""
        changes: list[RoadmapChangeMark] = []
        for change in marks:
            if change.entity != "vision_tag":
                changes.append(change)
                continue
            items = sorted(await items_tagged(self.roadmap, change.key))
            # A tag on more items than one request takes: the rest ride unversioned marks.
            changes.append(change.model_copy(update={"item_keys": items[:MAX_KEYS]}))
            for start in range(MAX_KEYS, len(items), MAX_KEYS):
                changes.extend(item_changed(key, None) for key in items[start : start + MAX_KEYS])
        marked = 0
        for body in _requests(changes):
            response = await self.commitments.request(
                "POST", "/work/rechecks", json=body, idempotent=True
            )
            if response.status_code != 200:
                raise UpstreamBroken(
                    self.commitments.name, f"re-checks answered {response.status_code}"
                )
            marked += self.commitments.parse(response, RecheckAnswer).marked
        if marked:
            self.sweeper.wake()
        return marked

    async def mark_written(self, marks: list[RoadmapChangeMark]) -> None:
        """For a roadmap write the gateway made: marked before the writer hears of it, or
        the writer hears 503 (the write stands; repeating it marks what it owes)."""
        try:
            await self.mark(marks)
        except (UpstreamUnavailable, UpstreamBroken) as error:
            raise UpstreamUnavailable(
                error.name,
                1,
                "the roadmap change is saved, but the promises it affects could not be marked "
                "for a re-check yet; repeating the request is safe",
            ) from error


async def _rechecks(request: Request) -> Rechecks:
    return request.app.state.rechecks


RechecksDep = Annotated[Rechecks, Depends(_rechecks)]


def _requests(changes: list[RoadmapChangeMark]) -> list[dict]:
    """Bodies of at most MAX_CHANGES changes and MAX_KEYS item keys each."""
    bodies: list[dict] = []
    batch: list[dict] = []
    keys = 0
    for change in changes:
        size = 1 + len(change.item_keys)
        if batch and (len(batch) == MAX_CHANGES or keys + size > MAX_KEYS):
            bodies.append({"changes": batch})
            batch, keys = [], 0
        batch.append(change.model_dump(mode="json"))
        keys += size
    if batch:
        bodies.append({"changes": batch})
    return bodies


@router.post(
    "/roadmap-changes",
    tags=["internal"],
    summary="The roadmap service's change deliveries: re-check the commitments they affect",
    description="Acknowledged (200) only once the re-checks are durably marked.",
)
async def take_roadmap_changes(delivery: ChangeDelivery, rechecks: RechecksDep) -> RecheckAnswer:
    return RecheckAnswer(marked=await rechecks.mark(marks_of(delivery.changes)))
