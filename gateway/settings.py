"""Gateway settings: environment variables prefixed `DEALGATE_` (DESIGN.md "Ports and
settings"), including the evaluation policy, which carries a version."""

import base64
import binascii
import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, HttpUrl, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from gateway.approval_rules import ApprovalRule
from gateway.evaluation import Policy
from kit.contracts.events import EscalationAction
from kit.settings import DEV_SERVICE_TOKEN, AppSettings

DEV_JWT_SECRET = "dev-jwt-secret-change-me-0123456789abcdef"
DEV_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"dev-webhook-secret-change-me-012").decode()
DEV_HUBSPOT_APP_SECRET = "dev-hubspot-app-secret-change-me"
# A Salesforce organization id in its 18-character form: the key prefix 00D, 12 characters,
# and 3 that encode the others' case (so the form is case-insensitive).
SALESFORCE_ORG_ID = re.compile(r"00D[A-Za-z0-9]{15}", re.IGNORECASE)
SALESFORCE_SECRET = re.compile(r"[A-Za-z0-9_-]{24,128}")
# A browser's Origin header: a scheme, a host and maybe a port; no path, no trailing slash.
CORS_ORIGIN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"


class GatewaySettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="DEALGATE_")

    secret_fields: ClassVar[tuple[str, ...]] = (
        "jwt_secret",
        "webhook_secret",
        "hubspot_app_secret",
        "service_token",
    )

    port: int = Field(8000, ge=1, le=65535)

    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: str = Field(DEV_JWT_SECRET, min_length=32, description="HS256 signing secret.")
    jwks_url: HttpUrl | None = Field(None, description="Where RS256 keys are published.")
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    # Sign-in to the review console (/console) through an OpenID Connect provider. When the
    # issuer is set, people's tokens are the provider's: verified against the keys its
    # discovery document publishes (`jwks_uri`), issued by it, for `oidc_audience`.
    oidc_issuer: str | None = Field(
        None,
        pattern=r"^https?://[^\s?#]+$",
        description="The OpenID provider's issuer identifier, exactly as its tokens' `iss`; "
        "its discovery document is `<issuer>/.well-known/openid-configuration`.",
    )
    oidc_client_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The console's client id at the provider (a public client, PKCE).",
    )
    oidc_scopes: str = Field(
        "openid profile email",
        pattern=r"^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$",
        description="The scopes the console asks for, space-separated; `openid` among them.",
    )
    oidc_audience: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The `aud` the provider's access tokens carry; unset: the client id.",
    )

    webhook_secret: str = Field(DEV_WEBHOOK_SECRET, description="A Standard Webhooks `whsec_…`.")
    hubspot_app_secret: str = Field(DEV_HUBSPOT_APP_SECRET, min_length=16)
    salesforce_orgs: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="The Salesforce organizations that may send, each as its full 18-character "
        "id and the secret its Outbound Message URL ends with: `00D…=secret`, comma-separated.",
    )

    hubspot_portal_id: int | None = Field(
        None,
        ge=1,
        description="The HubSpot account (portal) whose app webhooks Dealgate takes; a batch "
        "from any other is refused.",
    )
    hubspot_access_token: str | None = Field(
        None,
        min_length=8,
        description="The HubSpot private app's access token: turns on fetching what the app's "
        "webhooks name, stage mapping through the pipelines API, and the gate write-back.",
    )
    hubspot_api_url: HttpUrl = Field(
        HttpUrl("https://api.hubapi.com"), description="HubSpot's API base URL."
    )
    hubspot_commitment_object: str | None = Field(
        None,
        pattern=r"^(2-[0-9]+|p[0-9]+_[a-z][a-z0-9_]*)$",
        description="The `dealgate_commitment` custom object: its type id (`2-…`) or fully "
        "qualified name (`p<portal>_dealgate_commitment`), as `python -m gateway hubspot "
        "setup` prints it. Unset: promises come only from the workflow's JSON property.",
    )
    salesforce_instance_url: HttpUrl | None = Field(
        None,
        description="The Salesforce org's My Domain URL: with the client id and secret, turns "
        "on reconciliation by SOQL and the gate write-back.",
    )
    salesforce_client_id: str | None = Field(
        None, min_length=8, description="The connected app's consumer key."
    )
    salesforce_client_secret: str | None = Field(
        None, min_length=8, description="The connected app's consumer secret."
    )
    salesforce_reconcile_interval_seconds: float = Field(
        3600.0,
        ge=0,
        le=86_400,
        description="How often every open Salesforce opportunity's commitments are reconciled; "
        "0 turns the schedule off (each write-back still reconciles its opportunity).",
    )
    crm_sync_interval_seconds: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="How often the CRM connectors look for work (notifications to fetch, gates "
        "to write back) when nothing wakes them; 0 turns them off in this replica.",
    )
    crm_api_timeout_seconds: float = Field(10.0, gt=0, le=120)
    crm_retry_max_seconds: float = Field(
        300.0,
        ge=1,
        le=86_400,
        description="The longest pause between tries of a CRM call that keeps failing.",
    )

    public_url: HttpUrl | None = Field(
        None,
        description="The gateway's URL as CRMs call it (behind a proxy): HubSpot signs it.",
    )
    max_clock_skew_seconds: float = Field(
        3600.0,
        ge=0,
        le=86_400,
        description="How far ahead of this server's clock a CRM's modification time may be; "
        "an event further ahead is refused (it would make every later event stale).",
    )

    service_token: str = Field(DEV_SERVICE_TOKEN, min_length=16)
    commitments_url: HttpUrl = HttpUrl("http://127.0.0.1:8001")
    roadmap_url: HttpUrl = HttpUrl("http://127.0.0.1:8002")

    upstream_connect_timeout_seconds: float = Field(2.0, gt=0, le=60)
    upstream_read_timeout_seconds: float = Field(5.0, gt=0, le=120)
    upstream_breaker_threshold: int = Field(
        5, ge=1, le=1000, description="Failures in a row that open a service's circuit."
    )
    upstream_retry_budget_seconds: float = Field(
        2.0,
        ge=0,
        le=60,
        description="An idempotent call that failed quickly (refused, 502/503/504) is retried "
        "only while it is younger than this; one that timed out is not retried at all.",
    )
    upstream_probe_interval_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="How often an open circuit probes the service's readiness; the first "
        "probe that answers closes it.",
    )
    sweep_interval_seconds: float = Field(
        5.0, ge=0, le=3600, description="How often due evaluations are swept; 0 turns it off."
    )
    sweep_batch_size: int = Field(
        500,
        ge=1,
        le=500,
        description="How many due commitments one sweep claims and evaluates together (one "
        "roadmap read for all; recorded 100 at a time, a deal's together).",
    )
    evaluate_at_once_max: int = Field(
        100,
        ge=0,
        le=500,
        description="A CRM event with more commitments than this is answered as soon as it "
        "is taken (its commitments `received`) and evaluated just after, so a large deal "
        "is never answered slower than a CRM waits.",
    )

    policy_version: str = Field("default-1", min_length=1, max_length=64)
    date_margin_days: int = Field(30, ge=0, le=365)
    signoff_severities: Annotated[list[Literal["blocker", "warning"]], NoDecode] = Field(
        default_factory=lambda: ["blocker", "warning"],
        description="Which severities need a PM's sign-off, comma-separated.",
    )
    signoff_sla_hours: int = Field(48, ge=1, le=8760)
    recall_window_minutes: int = Field(
        15,
        ge=0,
        le=7 * 24 * 60,
        description="How long after a decision its author may recall it (0: never).",
    )
    triage_area: str = Field(
        "triage",
        min_length=1,
        max_length=64,
        description="The area whose reviewers decide promises with no roadmap item to give "
        "one (unlinked features, custom work, an item with no area).",
    )
    escalation_action: EscalationAction = Field(
        "notify",
        description="When a sign-off is overdue: tell the reviewers and their escalation "
        "contacts (`notify`), also hand the step to the first escalation contact "
        "(`reassign`), or, opted into only, decide it as the system (`auto_approve`, "
        "`auto_reject`), recorded as a decision by `dealgate`.",
    )
    approval_rules: list[ApprovalRule] = Field(
        default_factory=list,
        max_length=50,
        description="The policy's approval rules, as JSON: the first whose conditions hold "
        "chooses a flagged promise's chain of approvals (README, 'For deal-desk admins'). "
        "None holding: one step, a reviewer of the promise's area. Bump the policy version "
        "when they change.",
    )
    signoff_reminder_fractions: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], NoDecode] = (
        Field(
            default_factory=lambda: [0.5, 0.9],
            max_length=5,
            description="When sign-off reminders go out, as fractions of the SLA, comma-separated "
            "(overdue goes at the SLA itself).",
        )
    )
    api_key_cache_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="How long a replica trusts an API key it has looked up; a key revoked "
        "elsewhere stops working within this time (at once on the replica that revoked it).",
    )
    signoff_check_interval_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="How often due sign-off reminders and overdue alerts are sent; 0 turns it "
        "off in this replica.",
    )
    cors_origins: Annotated[list[Annotated[str, Field(pattern=CORS_ORIGIN)]], NoDecode] = Field(
        default_factory=list,
        max_length=50,
        description="The web origins (scheme://host[:port]) whose pages may call /v1 from a "
        "browser (CORS), comma-separated; none by default.",
    )
    business_metrics_ttl_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="How long /metrics reuses the business figures (promises by status, "
        "revenue at risk, sign-offs past SLA, breaches) before asking the reports again; 0: "
        "every scrape asks.",
    )

    @field_validator("signoff_severities", "signoff_reminder_fractions", "cors_origins",
                     mode="before")  # fmt: skip
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("salesforce_orgs", mode="before")
    @classmethod
    def _salesforce_orgs(cls, value: object) -> object:
        """A typo here would silently refuse every message from that organization, so each
        entry is checked, and named by its position (never by its secret)."""
        if not isinstance(value, str):
            return value
        orgs: dict[str, str] = {}
        entries = [part.strip() for part in value.split(",") if part.strip()]
        for position, entry in enumerate(entries, start=1):
            org, _, secret = entry.partition("=")
            org, secret = org.strip(), secret.strip()
            if not SALESFORCE_ORG_ID.fullmatch(org):
                raise ValueError(
                    f"entry {position}, {org[:40]!r}, is not a full Salesforce organization id "
                    "(18 letters and digits starting with 00D)"
                )
            if not SALESFORCE_SECRET.fullmatch(secret):
                raise ValueError(
                    f"entry {position} needs its secret after '=': at least 24 letters, digits, "
                    "'-' or '_' (the end of its Outbound Message URL)"
                )
            orgs[org.casefold()] = secret
        return orgs

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str) -> str:
        if not value.startswith("whsec_"):
            raise ValueError("a Standard Webhooks secret starts with whsec_")
        try:
            key = base64.b64decode(value.removeprefix("whsec_") + "==", validate=False)
        except binascii.Error:
            raise ValueError("whsec_ must be followed by base64") from None
        if len(key) < 24:
            raise ValueError("the webhook secret must hold at least 24 bytes")
        return value

    @model_validator(mode="after")
    def _salesforce_api_whole(self) -> "GatewaySettings":
        given = {
            "DEALGATE_SALESFORCE_INSTANCE_URL": self.salesforce_instance_url,
            "DEALGATE_SALESFORCE_CLIENT_ID": self.salesforce_client_id,
            "DEALGATE_SALESFORCE_CLIENT_SECRET": self.salesforce_client_secret,
        }
        missing = [name for name, value in given.items() if value is None]
        if missing and len(missing) < len(given):
            raise ValueError(f"Salesforce API access also needs {', '.join(missing)}")
        return self

    @field_validator("approval_rules")
    @classmethod
    def _rules_named_once(cls, rules: list[ApprovalRule]) -> list[ApprovalRule]:
        names = [rule.name.casefold() for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError("each approval rule has a name of its own")
        return rules

    @model_validator(mode="after")
    def _rs256_needs_keys(self) -> "GatewaySettings":
        if self.jwt_algorithm == "RS256" and self.jwks_url is None:
            raise ValueError("DEALGATE_JWT_ALGORITHM=RS256 needs DEALGATE_JWKS_URL")
        return self

    @model_validator(mode="after")
    def _oidc_whole(self) -> "GatewaySettings":
        if self.oidc_issuer is None:
            stray = [n for n in ("oidc_client_id", "oidc_audience") if getattr(self, n)]
            if stray:
                raise ValueError(f"{self.env_name(stray[0])} needs DEALGATE_OIDC_ISSUER")
            return self
        if not self.oidc_client_id:
            raise ValueError("DEALGATE_OIDC_ISSUER needs DEALGATE_OIDC_CLIENT_ID")
        # One source of keys and claims: the provider's discovery document says them all.
        clashing = [
            self.env_name(name)
            for name in ("jwks_url", "jwt_issuer", "jwt_audience")
            if getattr(self, name) is not None
        ] + (["DEALGATE_JWT_ALGORITHM"] if self.jwt_algorithm != "HS256" else [])
        if clashing:
            raise ValueError(
                f"DEALGATE_OIDC_ISSUER takes the keys, issuer and audience from the provider: "
                f"unset {', '.join(clashing)}"
            )
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("DEALGATE_OIDC_SCOPES must include openid")
        if self.environment == "production" and not self.oidc_issuer.startswith("https://"):
            raise ValueError("DEALGATE_OIDC_ISSUER must be an https:// URL in production")
        return self

    def oidc_token_audience(self) -> str | None:
        return self.oidc_audience or self.oidc_client_id

    def policy(self) -> Policy:
        return Policy(
            version=self.policy_version,
            date_margin_days=self.date_margin_days,
            signoff_severities=frozenset(self.signoff_severities),
            signoff_sla_hours=self.signoff_sla_hours,
            triage_area=self.triage_area,
            reminder_fractions=tuple(self.signoff_reminder_fractions),
            approval_rules=tuple(self.approval_rules),
            escalation_action=self.escalation_action,
        )

    def gateway_url(self) -> str:
        """The gateway's URL as people open it: the public one, else where it serves."""
        return str(self.public_url or self.local_url()).rstrip("/")
