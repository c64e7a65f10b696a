"""Commitments service settings: environment variables prefixed `COMMITMENTS_`."""

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, IPvAnyNetwork, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from kit.contracts.commitments import Email
from kit.settings import ServiceSettings
from services.commitments.outbound.destinations import LOOPBACK
from services.commitments.outbound.notices import Rules, SlackRoute


class CommitmentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMMITMENTS_")

    port: int = Field(8001, ge=1, le=65535)
    database_url: str = "sqlite+aiosqlite:///data/commitments.db"
    handoff_grace_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="How long the commitments an event or a PM's link changed stay the "
        "calling gateway's to evaluate before any replica's sweep may take them.",
    )

    # Events out ------------------------------------------------------------------------
    dispatch_interval_seconds: float = Field(
        0.5,
        ge=0,
        le=3600,
        description="How often the dispatcher looks for deliveries owed when it found none; "
        "0 turns delivery off in this process (another replica may deliver).",
    )
    dispatch_batch_size: int = Field(50, ge=1, le=500)
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="How long a subscriber may take to answer one delivery."
    )
    webhook_max_backoff_seconds: float = Field(
        3600.0,
        gt=0,
        le=86_400,
        description="The longest pause between attempts to a failing subscriber (the pause "
        "doubles from 1 s with each failure in a row).",
    )
    webhook_failing_after_seconds: float = Field(
        3 * 86_400,
        gt=0,
        le=30 * 86_400,
        description="A subscription whose deliveries have failed for this long without one "
        "success is marked failing and stops (an admin re-enables it).",
    )
    webhook_secret_overlap_seconds: float = Field(
        86_400,
        ge=0,
        le=30 * 86_400,
        description="After a secret rotation, how long the old secret signs beside the new.",
    )
    webhook_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Networks webhooks may be sent to although they are not public "
        "(comma-separated CIDRs, e.g. 10.20.0.0/16). In development loopback is allowed too.",
    )

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def sendable_networks(self) -> list[IPv4Network | IPv6Network]:
        """The allow-list, with loopback in development."""
        allowed = list(self.webhook_allowed_networks)
        if self.environment == "development":
            allowed.extend(LOOPBACK)
        return allowed

    # Notifications to people ---------------------------------------------------------------
    gateway_url: HttpUrl = Field(
        HttpUrl("http://127.0.0.1:8000"),
        description="The gateway as people reach it: the links in notifications.",
    )
    notify_interval_seconds: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="How often notifications owed are looked for when none were found; 0 "
        "turns them off in this process.",
    )
    notify_digest_minutes: float = Field(
        0,
        ge=0,
        le=1440,
        description="At most one message per person (or Slack route) per this many minutes; "
        "what comes meanwhile goes in the next one. 0: each at once.",
    )
    slack_routes: list[SlackRoute] = Field(
        default_factory=list,
        description='Slack incoming webhooks, as JSON: [{"name": "deal-desk", "url": '
        '"https://hooks.slack.com/services/…", "event_types": [...], "areas": [...]}] '
        "(event_types default: every notification; areas default: all).",
    )
    smtp_host: str | None = Field(None, description="The SMTP server; unset: no email.")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    email_from: str = Field("Dealgate <dealgate@localhost>", min_length=3, max_length=254)
    area_pms: dict[str, list[Email]] = Field(
        default_factory=dict,
        description="Who reviews promises by roadmap area when their item names no PM, as "
        'JSON: {"identity": ["pm@example.com"], "*": ["triage@example.com"]} ("*": promises '
        "with no item or area).",
    )
    escalation_email: Email | None = Field(None, description="Told of every overdue sign-off.")

    def notification_rules(self) -> Rules:
        return Rules(
            email=self.smtp_host is not None,
            area_pms=self.area_pms,
            escalation_email=self.escalation_email,
            slack_routes=self.slack_routes,
        )
