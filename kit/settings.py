"""Settings base: environment variables (or a `.env` file), with a production guard.

Every app's settings class derives from `AppSettings`. Secrets carry development
defaults so the stack runs with nothing configured; when `DEALGATE_ENV=production`
an app refuses to start while any secret still holds its development default.

Messages name the environment variable (`env_name`), not the field: that is what the
person reading them has to change.
"""

import uuid
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEV_SERVICE_TOKEN = "dev-service-token-change-me"

# The URL schemes a database setting may use, and the async driver each one runs on: a
# standard `postgresql://` URL works as it is written anywhere else.
ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


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
    body_read_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="A request body that takes longer to arrive gets 408 and its connection "
        "is closed, so a slow sender cannot hold a worker.",
    )
    instance_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        validation_alias="DEALGATE_INSTANCE_ID",
        min_length=1,
        max_length=64,
        description="Named in /healthz, so a caller knows which process answered (`make run` "
        "checks that it reached the processes it started); a fresh random id by default.",
    )

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable `field` is read from."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, AliasChoices):
            alias = alias.choices[0]
        if isinstance(alias, str):
            return alias.upper()
        return (cls.model_config.get("env_prefix") or "").upper() + field.upper()

    def local_url(self) -> str:
        """Where this app answers from this machine (a wildcard address is reached locally)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> "AppSettings":
        if self.environment != "production":
            return self
        defaults = type(self).model_fields
        still_default = [
            name for name in self.secret_fields if getattr(self, name) == defaults[name].default
        ]
        if still_default:
            names = ", ".join(type(self).env_name(name) for name in still_default)
            raise ValueError(
                f"DEALGATE_ENV=production but {names} still "
                f"{'holds its' if len(still_default) == 1 else 'hold their'} development "
                "default: set a secret of your own"
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

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """`postgresql://` and `sqlite://` run on the async drivers; the URL (it may hold a
        password) is never repeated in the message."""
        scheme, separator, rest = value.partition("://")
        if not separator:
            raise ValueError(
                "is not a database URL: use postgresql://user@host:5432/name or "
                "sqlite:///path/name.db"
            )
        driver = ASYNC_DRIVERS.get(scheme.lower())
        if driver is None:
            raise ValueError(
                f"the database driver {scheme!r} is not supported: use postgresql://… "
                "(served through asyncpg) or sqlite:///… (aiosqlite)"
            )
        url = f"{driver}://{rest}"
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise ValueError("is not a valid database URL") from None
        if "sslmode" in parsed.query:
            # libpq's name (what managed PostgreSQL URLs carry); asyncpg takes the same
            # modes as `ssl`.
            mode = parsed.query["sslmode"]
            parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
            url = parsed.render_as_string(hide_password=False)
        return url
