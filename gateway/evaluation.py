"""The conflict rules of DESIGN.md as one pure function: no I/O, no clock.

`evaluate(commitment, roadmap, policy)` answers the conflicts a promise has with the
roadmap and the vision, each with code, severity, message and evidence, whether the policy
asks a PM to sign it off, and the fingerprint of those that need sign-off.

The caller fetches what the rules read first (the linked item in one batch read, the vision
tags, and for an unlinked feature the roadmap search's best matches) and hands it in as a
`RoadmapSnapshot`.

Where DESIGN.md is silent, the rules here chose:
- The date rules need a linked item that exists and is neither shipped (a shipped item
  satisfies any date) nor declined (`item_declined` already blocks, and a declined item's
  dates mean nothing).
- `date_at_risk` needs a `planned_end`; with none, `unscheduled` says it all.
- Margin boundary: exactly `date_margin_days` after `planned_end` is not at risk; one day
  less is. A promise on the very day of `planned_end` is at risk, not before plan.
- Tag slugs the vision does not know count as neither pillar nor non-goal.
- `non_goal` is one conflict naming every non-goal tag involved, on the commitment or on its
  item.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from gateway.approval_rules import ApprovalRule
from kit.contracts.events import EscalationAction
from kit.fingerprint import conflict_fingerprint

Severity = Literal["blocker", "warning"]
LINK_NEEDED = frozenset({"feature", "integration"})
MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class Policy:
    """Which severities need sign-off, the date margin, the sign-off SLA; versioned, so an
    evaluation names the policy it used."""

    version: str = "default-1"
    date_margin_days: int = 30
    signoff_severities: frozenset[str] = frozenset({"blocker", "warning"})
    signoff_sla_hours: int = 48
    reminder_fractions: tuple[float, ...] = (0.5, 0.9)  # of the SLA, when reminders go out
    triage_area: str = "triage"  # who reviews a promise no roadmap item gives an area
    # Not read by the rules: which approval chain a flagged promise goes through.
    approval_rules: tuple[ApprovalRule, ...] = ()
    escalation_action: EscalationAction = "notify"  # what an overdue sign-off does

    def review_area(self, item: "RoadmapItem | None") -> str:
        """The area whose reviewers decide a promise on `item` (the reviewers directory)."""
        return item.area if item is not None and item.area else self.triage_area


@dataclass(frozen=True)
class Commitment:
    kind: str
    summary: str
    roadmap_item_key: str | None = None
    promised_by: date | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoadmapItem:
    key: str
    title: str
    status: str
    version: int
    planned_end: date | None = None
    confidence: str = "medium"
    vision_tags: tuple[str, ...] = ()
    # Not read by the rules: who is told about a promise on this item (notifications).
    owner: str | None = None
    area: str | None = None


@dataclass(frozen=True)
class SearchMatch:
    key: str
    title: str
    score: float


@dataclass(frozen=True)
class RoadmapSnapshot:
    """What the rules read: items by key (the linked one, if it exists), vision tag kinds by
    slug, and the search's best matches for an unlinked promise."""

    items: Mapping[str, RoadmapItem] = field(default_factory=dict)
    tag_kinds: Mapping[str, str] = field(default_factory=dict)  # slug -> pillar | non_goal
    matches: Sequence[SearchMatch] = ()


@dataclass(frozen=True)
class Conflict:
    code: str
    severity: Severity
    message: str
    needs_signoff: bool
    evidence: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        evidence = {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in self.evidence.items()
        }
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "needs_signoff": self.needs_signoff,
            "evidence": evidence,
        }


@dataclass(frozen=True)
class Evaluation:
    conflicts: tuple[Conflict, ...]
    fingerprint: str
    roadmap_item_versions: Mapping[str, int]
    policy_version: str

    @property
    def needs_signoff(self) -> bool:
        return any(conflict.needs_signoff for conflict in self.conflicts)


def evaluate(commitment: Commitment, roadmap: RoadmapSnapshot, policy: Policy) -> Evaluation:
    found: list[tuple[str, Severity, str, dict[str, Any]]] = []

    def conflict(code: str, severity: Severity, message: str, **evidence: Any) -> None:
        found.append((code, severity, message, evidence))

    key = commitment.roadmap_item_key
    item = roadmap.items.get(key) if key else None
    on_item = {"item_key": key} if key else {}

    if key and item is None:
        conflict("unknown_item", "blocker", f"No roadmap item {key} exists.", item_key=key)
    if not key and commitment.kind in LINK_NEEDED:
        conflict(
            "unlinked",
            "blocker",
            f"This {commitment.kind} is not linked to any roadmap item.",
            matches=[{"key": m.key, "title": m.title, "score": m.score} for m in roadmap.matches],
        )
    if item is not None and item.status == "declined":
        conflict("item_declined", "blocker", f"{item.key} ({item.title}) was declined.", **on_item)

    all_tags = (*commitment.tags, *(item.vision_tags if item is not None else ()))
    non_goals = sorted({tag for tag in all_tags if roadmap.tag_kinds.get(tag) == "non_goal"})
    if non_goals:
        conflict(
            "non_goal",
            "blocker",
            f"It touches what the product will not do: {', '.join(non_goals)}.",
            **on_item,
            tags=non_goals,
        )
    if commitment.kind == "custom_work":
        conflict("custom_work", "blocker", "It promises work for this customer alone.", **on_item)

    if (
        item is not None
        and commitment.promised_by is not None
        and item.status
        not in (
            "shipped",
            "declined",
        )
    ):
        _date_rules(conflict, commitment.promised_by, item, policy)

    pillars = [tag for tag in all_tags if roadmap.tag_kinds.get(tag) == "pillar"]
    if not pillars:
        conflict(
            "off_vision",
            "warning",
            "Neither the promise nor its roadmap item serves any pillar of the vision.",
            **on_item,
            tags=[],
        )

    conflicts = tuple(
        Conflict(code, severity, _shown(message), severity in policy.signoff_severities, evidence)
        for code, severity, message, evidence in found
    )
    return Evaluation(
        conflicts=conflicts,
        fingerprint=conflict_fingerprint(
            (
                c.code,
                c.severity,
                c.evidence.get("item_key"),
                c.evidence.get("planned_end"),
                c.evidence.get("promised_by"),
            )
            for c in conflicts
            if c.needs_signoff
        ),
        roadmap_item_versions={item.key: item.version} if item is not None else {},
        policy_version=policy.version,
    )


def _shown(message: str) -> str:
    """Messages are for people and bounded (a list of tags can grow long)."""
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


def _date_rules(conflict, promised_by: date, item: RoadmapItem, policy: Policy) -> None:
    dates = {"item_key": item.key, "planned_end": item.planned_end, "promised_by": promised_by}
    if item.planned_end is None:
        conflict(
            "unscheduled",
            "blocker",
            f"Promised by {promised_by}; {item.key} has no planned end date.",
            **dates,
        )
        return
    if promised_by < item.planned_end:
        conflict(
            "date_before_plan",
            "blocker",
            f"Promised by {promised_by}; {item.key} is planned for {item.planned_end}.",
            **dates,
        )
        return
    margin = timedelta(days=policy.date_margin_days)
    if promised_by < item.planned_end + margin or item.confidence == "low":
        why = (
            f"less than {policy.date_margin_days} days after"
            if promised_by < item.planned_end + margin
            else "after, but with low confidence in,"
        )
        conflict(
            "date_at_risk",
            "warning",
            f"Promised by {promised_by}, {why} {item.key}'s planned end {item.planned_end}.",
            **dates,
            confidence=item.confidence,
        )
