"""Asks the commitments service, every `interval`, to send the sign-off reminders and overdue
alerts due under the policy's SLA, running the policy's escalation on those overdue, and to
lapse the approvals whose conditions expired (the service records each once, so every
replica may ask)."""

import asyncio
import logging

from gateway.evaluation import Policy
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnavailable

logger = logging.getLogger("gateway.signoff_alerts")


async def ask_for_alerts(commitments: Upstream, policy: Policy) -> int:
    response = await commitments.request(
        "POST",
        "/work/signoff-alerts",
        json={
            "sla_hours": policy.signoff_sla_hours,
            "reminder_fractions": list(policy.reminder_fractions),
            "overdue_action": policy.escalation_action,
        },
        idempotent=True,
    )
    if response.status_code != 200:
        raise UpstreamBroken(commitments.name, f"sign-off alerts answered {response.status_code}")
    sent = int(response.json()["sent"])
    expired = await commitments.request(
        "POST", "/work/condition-expiries", json={}, idempotent=True
    )
    if expired.status_code != 200:
        raise UpstreamBroken(commitments.name, f"expiries answered {expired.status_code}")
    return sent + int(expired.json()["moved"])


async def run(commitments: Upstream, policy: Policy, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            sent = await ask_for_alerts(commitments, policy)
        except (UpstreamUnavailable, UpstreamBroken) as error:
            logger.warning("sign-off alerts not sent now", extra={"reason": str(error)})
        except Exception:
            logger.exception("sign-off alerts failed")
        else:
            if sent:
                logger.info("sign-off alerts sent", extra={"sent": sent})
