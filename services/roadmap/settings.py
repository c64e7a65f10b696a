"""Roadmap service settings: environment variables prefixed `ROADMAP_`."""

from pydantic import Field, HttpUrl
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class RoadmapSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROADMAP_")

    port: int = Field(8002, ge=1, le=65535)
    database_url: str = "sqlite+aiosqlite:///data/roadmap.db"
    subscriber_url: HttpUrl | None = Field(
        None,
        description="Where the change log is pushed (the gateway's change endpoint); "
        "unset, nothing is pushed and subscribers read GET /changes.",
    )
    delivery_batch_size: int = Field(100, ge=1, le=1000)
    delivery_poll_seconds: float = Field(1.0, gt=0, le=60)
    delivery_timeout_seconds: float = Field(10.0, gt=0, le=120)
    delivery_max_backoff_seconds: float = Field(60.0, gt=0, le=3600)
    delivery_startup_grace_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="For this long after start, a subscriber that has never answered and "
        "refuses connections is still starting: logged at info, not as a warning.",
    )
