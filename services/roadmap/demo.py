"""A demo roadmap for `make run`: four pillars, two non-goals, a dozen items.

Seeding only adds what is missing: anything whose key already exists is left as it is.
"""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from kit.contracts.roadmap import RoadmapItemCreate as Item
from kit.contracts.roadmap import VisionTagCreate as Tag
from services.roadmap import items, tags

OWNER = "pm@example.com"

DEMO_TAGS = [
    Tag(slug="enterprise-security", name="Enterprise security", kind="pillar",
        description="What a large customer's security review needs before it says yes."),
    Tag(slug="integrations", name="Integrations", kind="pillar",
        description="The product lives inside the tools teams already use."),
    Tag(slug="analytics", name="Analytics", kind="pillar",
        description="Answers about the business without exporting data."),
    Tag(slug="collaboration", name="Collaboration", kind="pillar",
        description="Teams working on the same records together."),
    Tag(slug="on-prem", name="On-premises deployment", kind="non_goal",
        description="We run as a managed cloud service only; no customer-hosted installs."),
    Tag(slug="custom-forks", name="Customer-specific forks", kind="non_goal",
        description="One product for everyone; no per-customer branches of the code."),
]  # fmt: skip

DEMO_ITEMS = [
    Item(key="RM-1", title="SAML single sign-on", status="shipped",
         planned_end=date(2026, 6, 30), confidence="high", vision_tags=["enterprise-security"],
         area="identity", owner=OWNER,
         description="SAML 2.0 SSO with any identity provider."),
    Item(key="RM-2", title="SSO with Okta and Azure AD (OIDC)", status="in_progress",
         planned_start=date(2026, 10, 1), planned_end=date(2027, 2, 15), confidence="medium",
         vision_tags=["enterprise-security"], area="identity", owner=OWNER,
         description="OpenID Connect sign-on with Okta and Azure AD, just-in-time provisioning."),
    Item(key="RM-3", title="SCIM user provisioning", status="planned",
         planned_start=date(2027, 2, 1), planned_end=date(2027, 5, 31), confidence="medium",
         vision_tags=["enterprise-security"], area="identity", owner=OWNER,
         description="Create and remove users from the identity provider."),
    Item(key="RM-4", title="Audit log export", status="planned",
         planned_start=date(2027, 1, 10), planned_end=date(2027, 3, 31), confidence="low",
         vision_tags=["enterprise-security", "analytics"], area="platform", owner=OWNER,
         description="Stream the audit log to a SIEM (Splunk, Datadog)."),
    Item(key="RM-5", title="Salesforce two-way sync", status="in_progress",
         planned_start=date(2026, 9, 1), planned_end=date(2027, 1, 31), confidence="high",
         vision_tags=["integrations"], area="integrations", owner=OWNER,
         description="Keep opportunities and contacts in step with Salesforce both ways."),
    Item(key="RM-6", title="HubSpot integration", status="planned",
         planned_start=date(2027, 3, 1), planned_end=date(2027, 6, 30), confidence="medium",
         vision_tags=["integrations"], area="integrations", owner=OWNER,
         description="Deals and companies synchronised with HubSpot CRM: a two-way integration."),
    Item(key="RM-7", title="Slack notifications", status="shipped",
         planned_end=date(2026, 4, 15), confidence="high",
         vision_tags=["integrations", "collaboration"], area="integrations", owner=OWNER,
         description="Post alerts and approvals to Slack."),
    Item(key="RM-8", title="Custom dashboards", status="planned",
         planned_start=date(2027, 4, 1), planned_end=date(2027, 9, 30), confidence="low",
         vision_tags=["analytics"], area="analytics", owner=OWNER,
         description="Drag-and-drop dashboards over every report."),
    Item(key="RM-9", title="Revenue forecasting", status="idea", confidence="low",
         vision_tags=["analytics"], area="analytics", owner=OWNER,
         description="Forecast bookings from pipeline history."),
    Item(key="RM-10", title="Shared workspaces", status="planned",
         planned_start=date(2027, 1, 15), planned_end=date(2027, 4, 30), confidence="medium",
         vision_tags=["collaboration"], area="collaboration", owner=OWNER,
         description="Several teams editing the same records with presence."),
    Item(key="RM-11", title="Self-hosted edition", status="declined", confidence="low",
         vision_tags=["on-prem"], area="platform", owner=OWNER,
         description="A version customers install in their own data centre. "
                     "Declined: see the on-prem non-goal."),
    Item(key="RM-12", title="Data residency in the EU", status="planned",
         planned_start=date(2027, 2, 1), planned_end=date(2027, 6, 15), confidence="medium",
         vision_tags=["enterprise-security"], area="platform", owner=OWNER,
         description="Keep a workspace's data in EU regions only."),
]  # fmt: skip


async def seed_demo_roadmap(engine: AsyncEngine) -> int:
    """Creates what is missing of the demo roadmap; answers how many records it created."""
    created_count = 0
    async with engine.begin() as connection:
        for tag in DEMO_TAGS:
            if await tags.get_tag(connection, tag.slug) is None:
                await tags.create_tag(connection, tag)
                created_count += 1
        for item in DEMO_ITEMS:
            if await items.get_item(connection, item.key) is None:
                await items.create_item(connection, item)
                created_count += 1
    return created_count
