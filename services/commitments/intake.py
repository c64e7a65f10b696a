"""What a CRM event does to a deal's commitments: a plan, decided without I/O.

The service loads the deal's stored commitments, asks `plan_intake` what the event changes,
applies the plan in the same transaction, and pushes each lifecycle event through
`lifecycle.apply`. Rules (DESIGN.md "Review lifecycle"):
- A new commitment is created (received). One whose content changed is updated
  (`crm_changed`, so it is evaluated afresh); an unchanged one is left alone, unless it
  was withdrawn: the CRM sending it again brings it back.
- `snapshot: true` lists the deal's whole set: a stored commitment missing from it is
  withdrawn. `snapshot: false` lists only what changed.
- A deal the CRM reports lost withdraws every commitment (new ones are recorded withdrawn);
  so does a commitment the CRM marks `withdrawn` (a status instead of a deletion), alone.
- A record the CRM sends unreadable (`problem`) puts the commitment in needs_attention with
  the problem, its stored content kept (a new one stores a placeholder); the record sent
  readable again is evaluated afresh, even if its content is what was held before.
- The roadmap link: a key the CRM sends wins when it is non-empty and differs from the last
  key the CRM sent; otherwise a PM's link stands. The CRM clearing its own key unlinks.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from kit.contracts.commitments import DealStage, ReviewStatus
from services.commitments.lifecycle import Event

LinkSource = Literal["crm", "pm"]


@dataclass(frozen=True)
class CommitmentContent:
    """What the CRM says of one commitment, and where its roadmap link came from."""

    kind: str
    summary: str
    promised_by: date | None
    tags: tuple[str, ...]
    roadmap_item_key: str | None
    link_source: LinkSource | None
    crm_roadmap_item_key: str | None  # the last key the CRM itself sent


@dataclass(frozen=True)
class StoredCommitment:
    external_id: str
    content: CommitmentContent
    review_status: ReviewStatus
    problem: str | None = None  # why its CRM record could not be read (needs_attention)


@dataclass(frozen=True)
class IncomingCommitment:
    external_id: str
    kind: str
    summary: str
    roadmap_item_key: str | None = None
    promised_by: date | None = None
    tags: tuple[str, ...] = field(default=())
    withdrawn: bool = False  # the CRM marks it taken back (a Withdrawn status)
    problem: str | None = None  # its record cannot be read as a promise: why


@dataclass(frozen=True)
class PlannedChange:
    external_id: str
    action: Literal["create", "update", "withdraw"]
    content: CommitmentContent | None  # what to store (create, update)
    events: tuple[Event, ...]  # lifecycle events to apply, in order
    problem: str | None = None  # what to store of why its record cannot be read


def _link(
    incoming: IncomingCommitment, stored: CommitmentContent | None
) -> tuple[str | None, LinkSource | None, str | None]:
    """(roadmap_item_key, link_source, crm_roadmap_item_key) after this event."""
    sent = incoming.roadmap_item_key or None
    if stored is None:
        return sent, ("crm" if sent else None), sent
    if sent and sent != stored.crm_roadmap_item_key:  # the CRM changed its key
        return sent, "crm", sent
    if sent is None and stored.link_source != "pm":  # the CRM cleared its own key
        return None, None, None
    # The link stands. Remember the CRM's last real key: a passing empty one must not make
    # that key look "different" when it comes back.
    return stored.roadmap_item_key, stored.link_source, sent or stored.crm_roadmap_item_key


def _effective(content: CommitmentContent) -> tuple:
    """What evaluation looks at; where the link came from is bookkeeping."""
    return (content.kind, content.summary, content.promised_by, content.tags,
            content.roadmap_item_key)  # fmt: skip


def _content(incoming: IncomingCommitment, stored: CommitmentContent | None) -> CommitmentContent:
    key, source, crm_key = _link(incoming, stored)
    return CommitmentContent(
        kind=incoming.kind,
        summary=incoming.summary,
        promised_by=incoming.promised_by,
        tags=tuple(sorted(set(incoming.tags))),
        roadmap_item_key=key,
        link_source=source,
        crm_roadmap_item_key=crm_key,
    )


def plan_intake(
    stored: Mapping[str, StoredCommitment],
    incoming: Sequence[IncomingCommitment],
    *,
    snapshot: bool,
    deal_stage: DealStage,
) -> list[PlannedChange]:
    """The changes the event makes, in a stable order: incoming first, then withdrawals."""
    lost = deal_stage is DealStage.closed_lost
    plan: list[PlannedChange] = []
    for commitment in incoming:
        previous = stored.get(commitment.external_id)
        if commitment.problem is not None:
            change = _unreadable(commitment.external_id, commitment.problem, previous, lost)
            if change is not None:
                plan.append(change)
            continue
        content = _content(commitment, previous.content if previous else None)
        gone = lost or commitment.withdrawn
        if previous is None:
            events = (Event.withdrawn,) if gone else ()
            plan.append(PlannedChange(commitment.external_id, "create", content, events))
            continue
        withdrawn = previous.review_status is ReviewStatus.withdrawn
        if gone:
            events = () if withdrawn else (Event.withdrawn,)
        elif (
            withdrawn
            or previous.review_status is ReviewStatus.needs_attention
            or _effective(content) != _effective(previous.content)
        ):
            events = (Event.crm_changed,)
        else:
            events = ()
        if events or content != previous.content:
            plan.append(PlannedChange(commitment.external_id, "update", content, events))
    listed = {commitment.external_id for commitment in incoming}
    for external_id, previous in sorted(stored.items()):
        if external_id in listed or previous.review_status is ReviewStatus.withdrawn:
            continue
        if snapshot or lost:
            plan.append(PlannedChange(external_id, "withdraw", None, (Event.withdrawn,)))
    return plan


def placeholder(problem: str) -> CommitmentContent:
    """What a commitment first seen unreadable holds until the CRM sends it readable."""
    return CommitmentContent(
        kind="other",
        summary=f"Unreadable in the CRM: {problem}"[:2000],
        promised_by=None,
        tags=(),
        roadmap_item_key=None,
        link_source=None,
        crm_roadmap_item_key=None,
    )


def _unreadable(
    external_id: str, problem: str, previous: StoredCommitment | None, lost: bool
) -> PlannedChange | None:
    if previous is None:
        events = (Event.withdrawn,) if lost else (Event.crm_unreadable,)
        return PlannedChange(external_id, "create", placeholder(problem), events, problem)
    status = previous.review_status
    if lost:
        if status is ReviewStatus.withdrawn:
            return None
        return PlannedChange(external_id, "update", None, (Event.withdrawn,), previous.problem)
    if status is ReviewStatus.needs_attention and previous.problem == problem:
        return None
    return PlannedChange(external_id, "update", None, (Event.crm_unreadable,), problem)
