"""Commitments service settings: environment variables prefixed `COMMITMENTS_`."""

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated

from pydantic import Field, IPvAnyNetwork, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from kit.settings import ServiceSettings
from services.commitments.outbound.destinations import LOOPBACK


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
