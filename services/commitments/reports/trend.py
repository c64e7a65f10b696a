"""The trend: per week (UTC, from Monday), the commitments received, what the gate told
about them (flagged, approved, rejected, reopened by a roadmap change: its events, each
commitment once a week per kind), and how long decisions took.

Counts are grouped per week in SQL; the median needs each decision's wait, so those are
read (the decisions of the window only) and the median taken here."""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from statistics import median

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.contracts.events import EventType
from kit.contracts.reports import Trend, TrendQuery, TrendWeek
from kit.db import utcnow
from services.commitments.reports.scope import matching, week_start
from services.commitments.tables import commitments, decisions, evaluations, outbox_events

c, o = commitments.c, outbox_events.c
TOLD = {
    EventType.commitment_flagged.value: "flagged",
    EventType.commitment_approved.value: "approved",
    EventType.commitment_rejected.value: "rejected",
    EventType.commitment_reopened.value: "reopened",
}
_CAUSE = o.payload[("data", "reason", "cause", "kind")].as_string()


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def trend(connection: AsyncConnection, asked: TrendQuery) -> Trend:
    first = _monday(utcnow().date()) - timedelta(weeks=asked.weeks - 1)
    start = datetime.combine(first, time(), UTC)
    matches = matching(asked)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    week = week_start(c.created_at)
    received = select(week, func.count()).where(c.created_at >= start, *matches).group_by(week)
    for monday, count in await connection.execute(received):
        counts[monday]["received"] = count

    week = week_start(o.occurred_at)
    told = (
        select(week, o.type, func.count(o.commitment_id.distinct()))
        .where(
            o.occurred_at >= start,
            or_(
                o.type.in_(set(TOLD) - {EventType.commitment_reopened.value}),
                (o.type == EventType.commitment_reopened.value) & (_CAUSE == "roadmap_changed"),
            ),
        )
        .group_by(week, o.type)
    )
    if matches:
        told = told.join(commitments, c.id == o.commitment_id).where(*matches)
    for monday, kind, count in await connection.execute(told):
        counts[monday][TOLD[kind]] = count

    waits: dict[date, list[float]] = defaultdict(list)
    decided = (
        select(decisions.c.decided_at, evaluations.c.evaluated_at)
        .join(evaluations, evaluations.c.id == decisions.c.evaluation_id)
        .where(decisions.c.decided_at >= start)
    )
    if matches:
        decided = decided.join(commitments, c.id == decisions.c.commitment_id).where(*matches)
    for decided_at, evaluated_at in await connection.execute(decided):
        hours = max((decided_at - evaluated_at).total_seconds(), 0) / 3600
        waits[_monday(decided_at.date())].append(hours)

    weeks = []
    for offset in range(asked.weeks):
        monday = first + timedelta(weeks=offset)
        figures, taken = counts.get(monday.isoformat(), {}), waits.get(monday, [])
        weeks.append(
            TrendWeek(
                week_start=monday,
                received=figures.get("received", 0),
                flagged=figures.get("flagged", 0),
                approved=figures.get("approved", 0),
                rejected=figures.get("rejected", 0),
                reopened=figures.get("reopened", 0),
                decisions=len(taken),
                median_hours_to_decision=round(median(taken), 2) if taken else None,
            )
        )
    return Trend(weeks=weeks)
