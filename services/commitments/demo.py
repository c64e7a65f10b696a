"""The demo reviewers directory for `make run`: who decides which of the demo roadmap's
areas (services/roadmap/demo.py), so the README's tour can approve as ana@example.com.

Seeding only adds what is missing: a reviewer already in the directory is left as they are.
"""

from sqlalchemy.ext.asyncio import AsyncEngine

from kit.contracts.reviewers import ReviewerWrite
from services.commitments import reviewers

DEMO_REVIEWERS = {
    "ana@example.com": ReviewerWrite(
        areas=["identity", "platform", "integrations", "triage"],
        escalation_contact="lead@example.com",
    ),
    "ben@example.com": ReviewerWrite(
        areas=["analytics", "collaboration"], escalation_contact="lead@example.com"
    ),
}


async def seed_demo_reviewers(engine: AsyncEngine) -> int:
    """Puts in the demo reviewers who are missing; answers how many."""
    created = 0
    async with engine.begin() as connection:
        for email, entry in DEMO_REVIEWERS.items():
            if not await reviewers.exists(connection, email):
                await reviewers.put(connection, email, entry, None)
                created += 1
    return created
