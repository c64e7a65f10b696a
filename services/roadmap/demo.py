"""A demo roadmap for `make run`: four pillars, two non-goals, a dozen items.

Seeding is idempotent: anything whose key already exists is left as it is.
"""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from services.roadmap import items, tags
from services.roadmap.schemas import RoadmapItemCreate, VisionTagCreate

DEMO_TAGS = [
    (
        "enterprise-security",
        "Enterprise security",
        "pillar",
        "What a large customer's security review needs before it says yes.",
    ),
    (
        "integrations",
        "Integrations",
        "pillar",
        "Dealgate-style products live inside the tools teams already use.",
    ),
    ("analytics", "Analytics", "pillar", "Answers about the business without exporting data."),
    ("collaboration", "Collaboration", "pillar", "Teams working on the same records together."),
    (
        "on-prem",
        "On-premises deployment",
        "non_goal",
        "We run as a managed cloud service only; no customer-hosted installs.",
    ),
    (
        "custom-forks",
        "Customer-specific forks",
        "non_goal",
        "One product for everyone; no per-customer branches of the code.",
    ),
]

DEMO_ITEMS = [
    (
        "RM-1",
        "SAML single sign-on",
        "shipped",
        None,
        date(2026, 6, 30),
        "high",
        ["enterprise-security"],
        "identity",
        "SAML 2.0 SSO with any identity provider.",
    ),
    (
        "RM-2",
        "SSO with Okta and Azure AD (OIDC)",
        "in_progress",
        date(2026, 10, 1),
        date(2027, 2, 15),
        "medium",
        ["enterprise-security"],
        "identity",
        "OpenID Connect sign-on with Okta and Azure AD, just-in-time provisioning.",
    ),
    (
        "RM-3",
        "SCIM user provisioning",
        "planned",
        date(2027, 2, 1),
        date(2027, 5, 31),
        "medium",
        ["enterprise-security"],
        "identity",
        "Create and remove users from the identity provider.",
    ),
    (
        "RM-4",
        "Audit log export",
        "planned",
        date(2027, 1, 10),
        date(2027, 3, 31),
        "low",
        ["enterprise-security", "analytics"],
        "platform",
        "Stream the audit log to a SIEM (Splunk, Datadog).",
    ),
    (
        "RM-5",
        "Salesforce two-way sync",
        "in_progress",
        date(2026, 9, 1),
        date(2027, 1, 31),
        "high",
        ["integrations"],
        "integrations",
        "Keep opportunities and contacts in step with Salesforce both ways.",
    ),
    (
        "RM-6",
        "HubSpot integration",
        "planned",
        date(2027, 3, 1),
        date(2027, 6, 30),
        "medium",
        ["integrations"],
        "integrations",
        "Deals and companies synchronised with HubSpot CRM.",
    ),
    (
        "RM-7",
        "Slack notifications",
        "shipped",
        None,
        date(2026, 4, 15),
        "high",
        ["integrations", "collaboration"],
        "integrations",
        "Post alerts and approvals to Slack.",
    ),
    (
        "RM-8",
        "Custom dashboards",
        "planned",
        date(2027, 4, 1),
        date(2027, 9, 30),
        "low",
        ["analytics"],
        "analytics",
        "Drag-and-drop dashboards over every report.",
    ),
    (
        "RM-9",
        "Revenue forecasting",
        "idea",
        None,
        None,
        "low",
        ["analytics"],
        "analytics",
        "Forecast bookings from pipeline history.",
    ),
    (
        "RM-10",
        "Shared workspaces",
        "planned",
        date(2027, 1, 15),
        date(2027, 4, 30),
        "medium",
        ["collaboration"],
        "collaboration",
        "Several teams editing the same records with presence.",
    ),
    (
        "RM-11",
        "Self-hosted edition",
        "declined",
        None,
        None,
        "low",
        ["on-prem"],
        "platform",
        "A version customers install in their own data centre. Declined: see the on-prem non-goal.",
    ),
    (
        "RM-12",
        "Data residency in the EU",
        "planned",
        date(2027, 2, 1),
        date(2027, 6, 15),
        "medium",
        ["enterprise-security"],
        "platform",
        "Keep a workspace's data in EU regions only.",
    ),
]


async def seed_demo_roadmap(engine: AsyncEngine, owner: str = "pm@example.com") -> int:
    """Creates what is missing of the demo roadmap; answers how many records it created."""
    created_count = 0
    async with engine.begin() as connection:
        for slug, name, kind, description in DEMO_TAGS:
            data = VisionTagCreate(slug=slug, name=name, kind=kind, description=description)
            if await tags.get_tag(connection, slug) is None:
                await tags.create_tag(connection, data)
                created_count += 1
        for key, title, status, start, end, confidence, vision, area, description in DEMO_ITEMS:
            if await items.get_item(connection, key) is not None:
                continue
            data = RoadmapItemCreate(
                key=key,
                title=title,
                status=status,
                planned_start=start,
                planned_end=end,
                confidence=confidence,
                vision_tags=vision,
                owner=owner,
                area=area,
                description=description,
            )
            await items.create_item(connection, data)
            created_count += 1
    return created_count
