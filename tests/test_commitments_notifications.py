"""Notifications to people: who hears what, what a message says (the reason a promise is at
risk), Slack messages to an incoming webhook, emails through a real SMTP server (aiosmtpd),
each sent once, digests, and retries."""

import contextlib
import email
import email.policy
import json
from datetime import timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from kit.db import create_engine, utcnow
from services.commitments.app import create_app
from services.commitments.outbound.notifier import MOST_ATTEMPTS
from services.commitments.tables import notification_recipients, notifications
from tests.commitments_helpers import claim_one, crm_event, decide, evaluate, slip, take
from tests.conftest import SERVICE_TOKEN, commitments_settings
from tests.support.clients import running
from tests.support.processes import free_port

SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXX"


# Sending -------------------------------------------------------------------------------------


class Inbox:
    """A real SMTP server on loopback (aiosmtpd) keeping what it is sent."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def inbox():
    box = Inbox()
    box.controller.start()
    yield box
    box.controller.stop()


class Slack:
    def __init__(self) -> None:
        self.posted: list[dict] = []
        self.status = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.status != 200:
            return httpx.Response(self.status, text="invalid_blocks")
        self.posted.append(json.loads(request.content))
        return httpx.Response(200, text="ok")


@pytest.fixture
def slack_app():
    return Slack()


def notifying_app(db_url: str, inbox: Inbox, slack_app: Slack, **overrides):
    settings = commitments_settings(
        db_url,
        dispatch_interval_seconds=0,
        notify_interval_seconds=0,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_security="none",
        area_pms={"*": ["triage@example.com"]},
        escalation_email="vp@example.com",
        slack_routes=[{"name": "deal-desk", "url": SLACK_URL}],
        gateway_url="https://dealgate.example.com",
        **overrides,
    )
    return create_app(settings, http_transport=httpx.MockTransport(slack_app.handle))


async def notify(app) -> None:
    for _ in range(20):
        if await app.state.notifier.route_once() + await app.state.notifier.send_once() == 0:
            return
    raise AssertionError("notifications still owed")


async def flag(client, deal="D-1", owner="pm@example.com") -> str:
    commitment_id = (await take(client, crm_event(deal=deal)))["commitments"][0]["id"]
    claim = await claim_one(client, commitment_id)
    response = await evaluate(
        client, commitment_id, slip("2027-04-01"), claim=claim, roadmap_item_owner=owner,
        roadmap_item_area="identity",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return commitment_id


async def test_the_pm_and_the_rep_are_told_once_by_email_and_slack(
    commitments_db_url, inbox, slack_app
):
    app = notifying_app(commitments_db_url, inbox, slack_app)
    async with running(app, SERVICE_TOKEN) as client:
        commitment_id = await flag(client)
        await notify(app)
        await notify(app)  # nothing twice
        (to_pm,) = inbox.to("pm@example.com")
        assert to_pm["Subject"] == "[Dealgate] Sign-off needed: SSO with Okta"
        text = to_pm.get_body(("plain",)).get_content()
        assert "date_before_plan (blocker)" in text
        assert "planned_end 2027-04-01" in text
        assert f"https://dealgate.example.com/v1/commitments/{commitment_id}" in text
        html = to_pm.get_body(("html",)).get_content()
        assert "<h2>Sign-off needed: SSO with Okta</h2>" in html
        assert len(slack_app.posted) == 1
        assert slack_app.posted[0]["blocks"][0]["text"]["text"].startswith("Sign-off needed")

        assert (await decide(client, commitment_id, comment="Pilot only")).status_code == 200
        await notify(app)
        (to_rep,) = inbox.to("rep@example.com")
        assert to_rep["Subject"] == "[Dealgate] Approved: SSO with Okta"
        assert (
            "Approved by ana@example.com: Pilot only" in to_rep.get_body(("plain",)).get_content()
        )
        assert len(inbox.messages) == 2
        assert len(slack_app.posted) == 2
        async with _engine(app) as engine, engine.connect() as connection:
            states = (await connection.execute(select(notifications.c.state))).scalars().all()
        assert sorted(states) == ["sent"] * 4


async def test_a_digest_sends_at_most_one_message_per_person_per_window(
    commitments_db_url, inbox, slack_app
):
    app = notifying_app(commitments_db_url, inbox, slack_app, notify_digest_minutes=10)
    async with running(app, SERVICE_TOKEN) as client:
        await flag(client, deal="D-1")
        await notify(app)
        await flag(client, deal="D-2")
        await flag(client, deal="D-3")
        await notify(app)
        assert len(inbox.to("pm@example.com")) == 1  # the window is not over
        async with _engine(app) as engine, engine.begin() as connection:
            await connection.execute(
                update(notification_recipients).values(
                    last_sent_at=utcnow() - timedelta(minutes=11)
                )
            )
        await notify(app)
        _, digest = inbox.to("pm@example.com")
        assert digest["Subject"] == "[Dealgate] 2 updates on promises awaiting or given sign-off"
        assert digest.get_body(("plain",)).get_content().count("Sign-off needed: SSO") == 2
        assert slack_app.posted[-1]["blocks"][0]["text"]["text"] == "2 updates from Dealgate"


async def test_a_failing_channel_is_retried_then_given_up_with_the_error(
    commitments_db_url, inbox, slack_app
):
    app = notifying_app(commitments_db_url, inbox, slack_app, webhook_max_backoff_seconds=0.001)
    app.state.settings.smtp_port = free_port()  # nothing listens there: the server is down
    slack_app.status = 400
    async with running(app, SERVICE_TOKEN) as client:
        await flag(client)
        for _ in range(MOST_ATTEMPTS):
            await app.state.notifier.route_once()
            async with _engine(app) as engine, engine.begin() as connection:
                await connection.execute(update(notification_recipients).values(retry_at=None))
            await app.state.notifier.send_once()
        async with _engine(app) as engine, engine.connect() as connection:
            rows = (await connection.execute(select(notifications))).all()
        assert {row.state for row in rows} == {"failed"}
        slack_error = next(row.error for row in rows if row.channel == "slack")
        assert "Slack answered 400: invalid_blocks" in slack_error
        email_error = next(row.error for row in rows if row.channel == "email")
        assert "SMTPConnect" in email_error
        assert all(row.attempts == MOST_ATTEMPTS for row in rows)
        assert slack_app.posted == []
        assert inbox.messages == []


def _engine(app):
    @contextlib.asynccontextmanager
    async def opened():
        engine = create_engine(app.state.settings.database_url)
        try:
            yield engine
        finally:
            await engine.dispose()

    return opened()
