"""Settings base: environment variables (or a `.env` file), with a production guard.

Every app's settings class derives from `AppSettings`. Secrets carry development
defaults so the stack runs with nothing configured; when `DEALGATE_ENV=production`
an app refuses to start while any secret still holds its development default.
"""

from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SERVICE_TOKEN = "dev-service-token-change-me"


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Field names whose development defaults must not reach production.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    environment: Literal["development", "production"] = Field(
        "development",
        validation_alias=AliasChoices("DEALGATE_ENV", "environment"),
        description="`production` forbids development secrets.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> "AppSettings":
        if self.environment != "production":
            return self
        defaults = type(self).model_fields
        still_default = [
            name for name in self.secret_fields if getattr(self, name) == defaults[name].default
        ]
        if still_default:
            raise ValueError(
                "DEALGATE_ENV=production but these settings still hold their development "
                f"defaults: {', '.join(still_default)}"
            )
        return self

    def development_secrets(self) -> dict[str, str]:
        """The secrets that still hold their development default (what `make run` prints)."""
        defaults = type(self).model_fields
        return {
            name: getattr(self, name)
            for name in self.secret_fields
            if getattr(self, name) == defaults[name].default
        }


class ServiceSettings(AppSettings):
    """Settings every database-owning internal service shares."""

    secret_fields: ClassVar[tuple[str, ...]] = ("service_token",)

    database_url: str = Field(
        description="`sqlite+aiosqlite:///path.db` (default) or `postgresql+asyncpg://…`."
    )
    service_token: str = Field(
        DEV_SERVICE_TOKEN,
        min_length=16,
        description="Bearer token every caller of this service must present.",
    )
    database_pool_size: int = Field(5, ge=1, le=100)
