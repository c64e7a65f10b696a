"""Evaluating commitments: claim them through the commitments service's work queue (so
replicas share the work and none evaluates a commitment another holds), read the roadmap
once for the whole batch, run the pure rules, and record each evaluation under its claim.

When the roadmap cannot be read, each claimed commitment is recorded `roadmap_unreachable`
(a first evaluation parks as evaluation_pending) and stays due: the sweep, which claims
whatever is due on a timer, evaluates it once the roadmap is back. A roadmap change only
marks commitments due (`/work/rechecks`) and wakes the sweep.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from gateway.evaluation import Commitment, Evaluation, Policy, evaluate
from gateway.snapshot import VisionTagCache, read_snapshots
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable
from kit.contracts.commitments import ClaimedCommitment, ClaimedWork, CommitmentRead

logger = logging.getLogger("gateway.evaluator")
LEASE_SECONDS = 60
MOST_CLAIMED = 100  # the most one claim takes


class Evaluator:
    def __init__(self, commitments: Upstream, roadmap: Upstream, policy: Policy) -> None:
        self.commitments, self.roadmap, self.policy = commitments, roadmap, policy
        self.tags = VisionTagCache(roadmap)

    async def evaluate_now(self, commitment_ids: Sequence[str]) -> dict[str, CommitmentRead]:
        """Claims those of `commitment_ids` that are due and evaluates them; answers each
        recorded commitment as it now stands."""
        recorded: dict[str, CommitmentRead] = {}
        for start in range(0, len(commitment_ids), MOST_CLAIMED):
            chunk = list(commitment_ids[start : start + MOST_CLAIMED])
            claimed = await self._claim({"commitment_ids": chunk, "limit": len(chunk)})
            recorded.update(await self._evaluate(claimed))
        return recorded

    async def sweep(self, batch_size: int) -> int:
        """Claims up to `batch_size` due commitments and evaluates them; answers how many."""
        claimed = await self._claim({"limit": batch_size})
        await self._evaluate(claimed)
        return len(claimed)

    async def _claim(self, request: dict) -> list[ClaimedCommitment]:
        response = await self.commitments.request(
            "POST", "/work/claims", json={"lease_seconds": LEASE_SECONDS, **request}
        )
        if response.status_code != 200:
            raise UpstreamBroken(self.commitments.name, f"claims answered {response.status_code}")
        return self.commitments.parse(response, ClaimedWork).items

    async def _evaluate(self, claimed: list[ClaimedCommitment]) -> dict[str, CommitmentRead]:
        if not claimed:
            return {}
        promises = {c.id: _rules_view(c) for c in claimed}
        try:
            snapshots = await read_snapshots(self.roadmap, self.tags, promises)
        except (UpstreamUnavailable, UpstreamBroken) as error:
            logger.warning("roadmap unreadable; evaluations wait", extra={"reason": str(error)})
            snapshots = None
        recorded: dict[str, CommitmentRead] = {}
        for commitment in claimed:
            if snapshots is None:
                body = _unreachable(commitment)
            else:
                found = evaluate(promises[commitment.id], snapshots[commitment.id], self.policy)
                body = _evaluated(commitment, found)
            answer = await self._record(commitment.id, body)
            if answer is not None:
                recorded[commitment.id] = answer
        return recorded

    async def _record(self, commitment_id: str, body: dict) -> CommitmentRead | None:
        # Not retried by the client: a lost answer leaves the claim to lapse and the work due.
        response = await self.commitments.request(
            "POST", f"/commitments/{commitment_id}/evaluations", json=body
        )
        if response.status_code == 409:
            # It changed (or was re-claimed) since this claim; it is due again already.
            logger.info("evaluation superseded", extra={"commitment_id": commitment_id})
            return None
        if response.status_code != 200:
            # Refused for this commitment alone: the others of the batch still go on; it
            # stays due and comes back when its claim lapses.
            logger.error(
                "evaluation refused",
                extra={"commitment_id": commitment_id, "status": response.status_code},
            )
            return None
        return self.commitments.parse(response, CommitmentRead)


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
        "claim_token": commitment.claim_token,
        "evaluated_version": commitment.version,
        "work_generation": commitment.work_generation,
    }


def _evaluated(commitment: ClaimedCommitment, found: Evaluation) -> dict:
    return {
        **_claim_fields(commitment),
        "outcome": "evaluated",
        "conflicts": [conflict.as_json() for conflict in found.conflicts],
        "roadmap_item_versions": dict(found.roadmap_item_versions),
        "policy_version": found.policy_version,
    }


def _unreachable(commitment: ClaimedCommitment) -> dict:
    return {**_claim_fields(commitment), "outcome": "roadmap_unreachable"}


class Sweeper:
    """Evaluates whatever is due, every `interval` seconds or at once when woken (a roadmap
    change was marked), until a sweep comes back short. Failures are logged, never fatal."""

    def __init__(self, evaluator: Evaluator, *, interval: float, batch_size: int) -> None:
        self.evaluator, self.interval, self.batch_size = evaluator, interval, batch_size
        self.woken = asyncio.Event()

    def wake(self) -> None:
        self.woken.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), self.interval)
            self.woken.clear()
            await self.sweep_until_done()

    async def sweep_until_done(self) -> int:
        swept = 0
        try:
            while True:
                count = await self.evaluator.sweep(self.batch_size)
                swept += count
                if count < self.batch_size:
                    return swept
        except (UpstreamUnavailable, UpstreamBroken) as error:
            logger.warning("sweep stopped", extra={"reason": str(error)})
        except Exception:
            logger.exception("sweep failed")
        return swept
