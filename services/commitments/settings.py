"""Commitments service settings: environment variables prefixed `COMMITMENTS_`."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


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
