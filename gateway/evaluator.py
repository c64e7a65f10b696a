"""Evaluating commitments: claim them through the commitments service's work queue (so
replicas share the work and none evaluates a commitment another holds), read the roadmap
once for the whole batch, run the pure rules, and record each evaluation under its claim.

When the roadmap cannot be read, each claimed commitment is recorded `roadmap_unreachable`
(a first evaluation parks as evaluation_pending) and pauses before it is due again. The
sweep, which claims whatever is due on a timer, does not claim while the roadmap's circuit
is open (it would only record the same failure again); while it is open the sweep looks
every second, and when the circuit closes again (the roadmap answers a probe, whoever
made it) it sweeps at once, once ending every pause. A roadmap that answers but cannot be
read (a 500, a reply off its contract) leaves the pauses to do their work: taking paused
work at once then would only spin the queue. A roadmap change only marks commitments due
(`/work/rechecks`) and wakes the sweep.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from gateway import approval_rules
from gateway.evaluation import Commitment, Evaluation, Policy, RoadmapItem, evaluate
from gateway.snapshot import VisionTagCache, read_snapshots
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit import background
from kit.contracts.commitments import (
    ClaimedCommitment,
    ClaimedWork,
    EvaluationBatchAnswer,
    ReviewStatus,
)

logger = logging.getLogger("gateway.evaluator")
LEASE_SECONDS = 60
MOST_CLAIMED = 500  # the most one claim takes
MOST_RECORDED = 100  # the most one call records (POST /work/evaluations)
# Batches a sweep works on at once: the commitments service, the database and the gateway
# each take a part of a batch's time, so a second batch in flight keeps them all busy.
SWEEP_WORKERS = 2


class Evaluator:
    def __init__(
        self, commitments: Upstream, roadmap: Upstream, policy: Policy, at_once_max: int = 100
    ) -> None:
        self.commitments, self.roadmap, self.policy = commitments, roadmap, policy
        # An event with more commitments than this is evaluated after its answer.
        self.at_once_max = at_once_max
        self.tags = VisionTagCache(roadmap)
        self.later: set[asyncio.Task] = set()  # evaluate_later's
        self.later_turn = asyncio.Semaphore(1)

    async def evaluate_now(self, commitment_ids: Sequence[str]) -> dict[str, ReviewStatus]:
        """Claims those of `commitment_ids` that are due and evaluates them; answers the
        status each recorded commitment now has."""
        recorded: dict[str, ReviewStatus] = {}
        for start in range(0, len(commitment_ids), MOST_CLAIMED):
            chunk = list(commitment_ids[start : start + MOST_CLAIMED])
            claimed = await self._claim({"commitment_ids": chunk, "limit": len(chunk)})
            recorded.update(await self.evaluate_claimed(claimed))
        return recorded

    def evaluate_later(self, claimed: Sequence[ClaimedCommitment]) -> None:
        """Evaluates commitments already claimed once the caller has been answered. If it
        fails or the app stops first, the claims lapse and the sweep takes the work."""
        task = asyncio.create_task(self._evaluate_logged(list(claimed)))
        self.later.add(task)
        task.add_done_callback(self.later.discard)

    async def _evaluate_logged(self, claimed: list[ClaimedCommitment]) -> None:
        try:
            # One large event evaluated at a time: the events still arriving are answered
            # between its calls rather than queueing behind several at once.
            async with self.later_turn:
                await self.evaluate_claimed(claimed)
        except (UpstreamUnavailable, UpstreamBroken) as error:
            logger.warning("evaluation after the answer deferred", extra={"reason": str(error)})
        except Exception:
            logger.exception("evaluation after the answer failed")

    async def stop_later(self) -> None:
        for task in list(self.later):
            await background.stop(task)

    async def sweep(self, batch_size: int, *, retry_waiting: bool = False) -> int:
        """Claims up to `batch_size` due commitments and evaluates them; answers how many.
        `retry_waiting`: also those pausing after a failed attempt."""
        claimed = await self._claim({"limit": batch_size, "retry_waiting": retry_waiting})
        await self.evaluate_claimed(claimed)
        return len(claimed)

    async def _claim(self, request: dict) -> list[ClaimedCommitment]:
        response = await self.commitments.request(
            "POST", "/work/claims", json={"lease_seconds": LEASE_SECONDS, **request}
        )
        if response.status_code != 200:
            raise UpstreamBroken(self.commitments.name, f"claims answered {response.status_code}")
        return self.commitments.parse(response, ClaimedWork).items

    async def evaluate_claimed(self, claimed: list[ClaimedCommitment]) -> dict[str, ReviewStatus]:
        """Evaluates commitments already claimed (a sweep's, or an event's as it was taken)."""
        if not claimed:
            return {}
        promises = {c.id: _rules_view(c) for c in claimed}
        try:
            snapshots = await read_snapshots(self.roadmap, self.tags, promises)
        except (UpstreamUnavailable, UpstreamBroken) as error:
            logger.warning("roadmap unreadable; evaluations wait", extra={"reason": str(error)})
            snapshots = None
        records = [
            _unreachable(commitment)
            if snapshots is None
            else _evaluated(
                commitment,
                evaluate(promises[commitment.id], snapshots[commitment.id], self.policy),
                snapshots[commitment.id].items.get(commitment.roadmap_item_key or ""),
                self.policy,
            )
            for commitment in claimed
        ]
        # A deal's commitments recorded together: each call announces the deals it touched.
        deal_of = {commitment.id: commitment.deal_id for commitment in claimed}
        records.sort(key=lambda record: (deal_of[record["commitment_id"]], record["commitment_id"]))
        recorded: dict[str, ReviewStatus] = {}
        for start in range(0, len(records), MOST_RECORDED):
            recorded.update(await self._record(records[start : start + MOST_RECORDED]))
        return recorded

    async def _record(self, records: list[dict]) -> dict[str, ReviewStatus]:
        """One call for the batch. Safe to repeat: a repeat finds the claims released. A
        lost answer leaves the claims to lapse and the work due. A batch the service
        refuses is recorded one by one, so one evaluation it cannot take holds up only
        itself."""
        response = await self.commitments.request(
            "POST", "/work/evaluations", json={"items": records}, idempotent=True
        )
        if response.status_code == 422 and len(records) > 1:
            recorded: dict[str, ReviewStatus] = {}
            for record in records:
                recorded.update(await self._record([record]))
            return recorded
        if response.status_code != 200:
            logger.error(
                "evaluations refused",
                extra={"commitments": [r["commitment_id"] for r in records][:10],
                       "status": response.status_code},
            )  # fmt: skip
            return {}  # they stay due, and come back when their claims lapse
        recorded = {}
        for outcome in self.commitments.parse(response, EvaluationBatchAnswer).items:
            if outcome.recorded and outcome.review_status is not None:
                recorded[outcome.commitment_id] = outcome.review_status
            else:
                # It changed (or was claimed again) since this claim: it is due again.
                logger.info(
                    "evaluation superseded",
                    extra={"commitment_id": outcome.commitment_id, "reason": outcome.reason},
                )
        return recorded


def _rules_view(commitment: ClaimedCommitment) -> Commitment:
    return Commitment(
        kind=commitment.kind.value,
        summary=commitment.summary,
        roadmap_item_key=commitment.roadmap_item_key,
        promised_by=commitment.promised_by,
        tags=tuple(commitment.tags),
    )


def _claim_fields(commitment: ClaimedCommitment) -> dict:
    return {
        "commitment_id": commitment.id,
        "claim_token": commitment.claim_token,
        "evaluated_version": commitment.version,
        "work_generation": commitment.work_generation,
    }


def _evaluated(
    commitment: ClaimedCommitment, found: Evaluation, item: RoadmapItem | None, policy: Policy
) -> dict:
    area = policy.review_area(item)
    rule, chain = approval_rules.choose(
        policy.approval_rules,
        approval_rules.Subject(
            source=commitment.deal_source.value,
            currency=commitment.deal_currency,
            amount=commitment.deal_amount,
            kind=commitment.kind.value,
            conflict_codes=frozenset(c.code for c in found.conflicts if c.needs_signoff),
            area=area,
        ),
    )
    return {
        **_claim_fields(commitment),
        "roadmap_item_owner": item.owner if item else None,
        "roadmap_item_area": item.area if item else None,
        "review_area": area,
        # No rule: the service's default chain (one area step), not sent.
        "approval_rule": rule,
        "approval_chain": [step.model_dump() for step in chain] if rule else None,
        "outcome": "evaluated",
        "conflicts": [conflict.as_json() for conflict in found.conflicts],
        "roadmap_item_versions": dict(found.roadmap_item_versions),
        "policy_version": found.policy_version,
    }


def _unreachable(commitment: ClaimedCommitment) -> dict:
    return {**_claim_fields(commitment), "outcome": "roadmap_unreachable"}


class Sweeper:
    """Evaluates whatever is due, every `interval` seconds or at once when woken (a roadmap
    change was marked, the roadmap came back), until a sweep comes back short. While the
    roadmap's circuit is open it looks every `roadmap_watch_interval` instead. Failures are
    logged, never fatal."""

    def __init__(
        self,
        evaluator: Evaluator,
        *,
        interval: float,
        batch_size: int,
        roadmap_watch_interval: float = 1.0,
    ) -> None:
        self.evaluator, self.interval, self.batch_size = evaluator, interval, batch_size
        self.roadmap_watch_interval = roadmap_watch_interval
        self.woken = asyncio.Event()
        # The roadmap's circuit closed again: the next sweep takes paused work too, once.
        self.roadmap_back = False

    def wake(self) -> None:
        self.woken.set()

    def roadmap_recovered(self) -> None:
        self.roadmap_back = True
        self.wake()

    async def run(self) -> None:
        while True:
            pause = self.interval
            if self.evaluator.roadmap.breaker.is_open:
                pause = min(pause, self.roadmap_watch_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), pause)
            self.woken.clear()
            await self.sweep_until_done()

    async def sweep_until_done(self) -> int:
        """`SWEEP_WORKERS` loops claim and evaluate batches at once until one comes back
        short: while one batch is recorded, the next is claimed and evaluated."""
        try:
            if not await self.evaluator.roadmap.available():
                return 0  # claiming now would only record the outage again
        except Exception:
            logger.exception("sweep failed")
            return 0
        retry_waiting, self.roadmap_back = self.roadmap_back, False
        ended = await asyncio.gather(
            *(self._sweep_batches(retry_waiting) for _ in range(SWEEP_WORKERS))
        )
        if not all(done for _, done in ended):
            self.roadmap_back |= retry_waiting  # not done: the next sweep tries again
        return sum(swept for swept, _ in ended)

    async def _sweep_batches(self, retry_waiting: bool) -> tuple[int, bool]:
        """Batches until one comes back short; (how many swept, whether it got there)."""
        evaluator, swept = self.evaluator, 0
        try:
            while True:
                count = await evaluator.sweep(self.batch_size, retry_waiting=retry_waiting)
                swept += count
                if count < self.batch_size or evaluator.roadmap.breaker.is_open:
                    return swept, True  # done, or the roadmap failed again: wait for it
        except (UpstreamUnavailable, UpstreamBroken) as error:
            logger.warning("sweep stopped", extra={"reason": str(error)})
        except Exception:
            logger.exception("sweep failed")
        return swept, False
