"""The commitments database, as SQLAlchemy Core tables. Alembic migrations create it.

Ids are UUID text made by the service. Timestamps are UTC (`UTCDateTime`).
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from kit.db import UTCDateTime, new_metadata

metadata = new_metadata()

ID = String(36)
REVIEW_STATUSES = (
    "'received', 'evaluation_pending', 'cleared', 'needs_signoff', 'approved', 'rejected', "
    "'withdrawn', 'needs_attention', 'info_requested'"
)

deals = Table(
    "deals",
    metadata,
    Column("id", ID, primary_key=True),
    Column("source", String(16), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("name", String(300), nullable=False),
    Column("account", String(300), nullable=False),
    # Cents, exact on both databases (SQLite has no exact decimal to sum).
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("expected_close", Date, nullable=True),
    Column("owner", String(254), nullable=True),
    # The CRM's own last-modified time, then the event's time: what orders its events.
    Column("crm_updated_at", UTCDateTime, nullable=False),
    Column("crm_occurred_at", UTCDateTime, nullable=False),
    # The readiness the last deal.gate_changed event told (null: none yet).
    Column("announced_ready", Boolean, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "external_id"),
    Index(None, "stage", "currency"),
    Index(None, "owner"),
    CheckConstraint("source IN ('salesforce', 'hubspot', 'generic')", name="source"),
    CheckConstraint("stage IN ('open', 'closed_won', 'closed_lost')", name="stage"),
)

commitments = Table(
    "commitments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("deal_id", ID, ForeignKey("deals.id"), nullable=False),
    # Copies of the deal's owner, currency and amount, kept in step by intake, so lists and
    # reports filter and group commitments without joining deals.
    Column("deal_owner", String(254), nullable=True),
    Column("deal_currency", String(3), nullable=False),
    Column("deal_amount_cents", BigInteger, nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("promised_by", Date, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("roadmap_item_key", String(20), nullable=True),
    Column("link_source", String(8), nullable=True),
    Column("crm_roadmap_item_key", String(20), nullable=True),
    Column("review_status", String(24), nullable=False),
    Column("reopen_reason", Text, nullable=True),
    # Why the CRM's record cannot be read as a promise (needs_attention).
    Column("crm_problem", Text, nullable=True),
    Column("status_changed_at", UTCDateTime, nullable=False),
    # The review status the last commitment event told (null: none yet), so an event goes
    # out only when what a receiver knows changes (outbox.py).
    Column("announced_status", String(24), nullable=True),
    # The evaluation it is judged by now, and the one its standing approval decided (none
    # when the latest decision is not an approval). No foreign keys: evaluations point back.
    Column("current_evaluation_id", ID, nullable=True),
    Column("approved_evaluation_id", ID, nullable=True),
    # Whom the step whose turn it was got handed to (approvals.py): they may act at it.
    Column("assigned_to", String(254), nullable=True),
    Column("assigned_step", String(64), nullable=True),
    Column("version", Integer, nullable=False),  # the ETag; grows on every visible change
    # The evaluation work queue. Work is due from `work_due_at` (null: none owed); every
    # reason to (re-)evaluate bumps `work_generation`, and only an evaluation of the latest
    # generation settles it, so a roadmap change during an evaluation is never lost.
    Column("work_due_at", UTCDateTime, nullable=True),
    Column("work_generation", Integer, nullable=False),
    Column("work_attempts", Integer, nullable=False),
    Column("work_cause", JSON, nullable=True),  # what made it due (events.Cause), for reasons
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("deal_id", "external_id"),
    Index(None, "deal_id", "review_status"),  # readiness, revenue at risk
    Index(None, "review_status", "id"),  # lists by status
    Index(None, "review_status", "status_changed_at"),  # aging
    Index(None, "roadmap_item_key", "id"),  # lists by item, re-checks
    Index(None, "deal_owner", "id"),  # lists by owner
    # The summary by status and currency, read from the index alone.
    Index(None, "review_status", "deal_currency", "deal_id", "deal_amount_cents"),
    Index(
        "ix_commitments_work_due_at_id",
        "work_due_at",
        "id",
        postgresql_where=text("work_due_at IS NOT NULL"),
        sqlite_where=text("work_due_at IS NOT NULL"),
    ),
    CheckConstraint(f"review_status IN ({REVIEW_STATUSES})", name="review_status"),
    CheckConstraint(
        "kind IN ('feature', 'integration', 'custom_work', 'date', 'other')", name="kind"
    ),
    CheckConstraint("link_source IN ('crm', 'pm')", name="link_source"),
)

# Every evaluation ever recorded; a commitment points at its current one.
evaluations = Table(
    "evaluations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("commitment_id", ID, ForeignKey("commitments.id"), nullable=False),
    Column("commitment_version", Integer, nullable=False),
    Column("conflicts", JSON, nullable=False),
    Column("roadmap_item_versions", JSON, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("review_status", String(24), nullable=False),  # what it moved the commitment to
    Column("reopened", Boolean, nullable=False),
    # The linked item's PM and area as the roadmap read them: who is told (notifications).
    Column("item_owner", String(254), nullable=True),
    Column("item_area", String(64), nullable=True),
    # The area whose reviewers decide it: the item's, or the policy's triage area.
    Column("review_area", String(64), nullable=True),
    # The approval chain (kit.contracts.approvals) and the policy rule that chose it; no
    # chain (recorded before chains): one step, the area's reviewer.
    Column("approval_rule", String(64), nullable=True),
    Column("approval_chain", JSON, nullable=True),
    Column("evaluated_at", UTCDateTime, nullable=False),
    Index(None, "commitment_id", "evaluated_at"),
)

# The current conflicts of every commitment not withdrawn, tallied by each grouping of the
# conflicts report: one row per (commitment, dimension, key) with its count of conflicts
# and of blockers. A report is then a plain sum per key off one index, and "distinct
# commitments" a row count.
conflict_tallies = Table(
    "conflict_tallies",
    metadata,
    Column("commitment_id", ID, ForeignKey("commitments.id"), primary_key=True),
    Column("dimension", String(8), primary_key=True),
    Column("key", String(254), primary_key=True),
    Column("conflicts", Integer, nullable=False),
    Column("blockers", Integer, nullable=False),
    Index(None, "dimension", "key", "conflicts", "blockers"),
    CheckConstraint("dimension IN ('code', 'item', 'tag', 'owner')", name="dimension"),
)

# The tags each commitment carries, so a tag changing kind finds its commitments by index.
commitment_tags = Table(
    "commitment_tags",
    metadata,
    Column("commitment_id", ID, ForeignKey("commitments.id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Index(None, "tag", "commitment_id"),
)

# Append-only: database triggers refuse UPDATE and DELETE (see the migration).
decisions = Table(
    "decisions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("commitment_id", ID, ForeignKey("commitments.id"), nullable=False),
    Column("evaluation_id", ID, ForeignKey("evaluations.id"), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("decided_by", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    # The reviewer a delegate decided for while they were out of office.
    Column("on_behalf_of", String(254), nullable=True),
    Column("comment", Text, nullable=False),
    Column("conditions", Text, nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    # The chain step it was taken at (none: before chains, the first step).
    Column("step", String(64), nullable=True),
    # An approval's conditions may run out: the commitment then reopens (expiry.py).
    Column("conditions_expire_on", Date, nullable=True),
    Index(None, "commitment_id", "decided_at"),
    Index(None, "decided_at", "id"),  # the audit's order
    CheckConstraint("decision IN ('approve', 'reject')", name="decision"),
)

# Decisions that lapsed: their authors recalled them, or their conditions expired. They no
# longer count (decisions stay append-only).
decision_lapses = Table(
    "decision_lapses",
    metadata,
    Column("decision_id", ID, ForeignKey("decisions.id"), primary_key=True),
    Column("lapsed_at", UTCDateTime, nullable=False),
    Column("cause", String(24), nullable=False),
    CheckConstraint("cause IN ('recalled', 'conditions_expired')", name="cause"),
)

# A commitment's thread: reviewers' questions, the rep's answers, recalled decisions.
commitment_comments = Table(
    "commitment_comments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("commitment_id", ID, ForeignKey("commitments.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("author", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("assignee", String(254), nullable=True),  # a reassignment's
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "commitment_id", "created_at"),
    CheckConstraint("kind IN ('question', 'answer', 'recall', 'reassignment')", name="kind"),
)

# Every CRM event taken, by (source, event id), with the answer it got.
inbox = Table(
    "inbox",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("deal_id", ID, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("answer", JSON, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    CheckConstraint("outcome IN ('accepted', 'stale')", name="outcome"),
)

breaches = Table(
    "breaches",
    metadata,
    Column("id", ID, primary_key=True),
    Column("deal_id", ID, ForeignKey("deals.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("blocking", JSON, nullable=False),  # the commitments that were not signed off
    Column("detected_at", UTCDateTime, nullable=False, index=True),
    CheckConstraint("kind IN ('closed_without_signoff')", name="kind"),
)

# The latest version of each roadmap item and vision tag whose re-check was marked: a change
# the gateway marked as it was written is not marked again when the roadmap's change feed
# brings it (versions never repeat for a key, so "this version or later" is exact).
roadmap_marks = Table(
    "roadmap_marks",
    metadata,
    Column("entity", String(16), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("marked_at", UTCDateTime, nullable=False),
    CheckConstraint("entity IN ('roadmap_item', 'vision_tag')", name="entity"),
)


# Events out (outbox.py): written in the transaction of the change that caused them.
# `sequence` orders them; one deal's events are written under its row lock, so its events'
# order is their commit order.
SEQUENCE = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("sequence", SEQUENCE, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("deal_id", ID, ForeignKey("deals.id"), nullable=False),
    Column("commitment_id", ID, nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False, index=True),
    Column("payload", JSON, nullable=False),  # the whole event, as delivered
    # When the notifier worked out who hears of it (null: not yet; notifier.py).
    Column("routed_at", UTCDateTime, nullable=True),
    Index(None, "deal_id", "sequence"),
    Index(
        "ix_outbox_events_unrouted",
        "sequence",
        postgresql_where=text("routed_at IS NULL"),
        sqlite_where=text("routed_at IS NULL"),
    ),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128), nullable=True),
    Column("previous_secret_expires_at", UTCDateTime, nullable=True),
    # The current streak of failed sends: when it began, how long, when to try again.
    Column("failing_since", UTCDateTime, nullable=True),
    Column("failures", Integer, nullable=False),
    Column("retry_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("status IN ('active', 'disabled', 'failing')", name="status"),
)

# Which subscriptions take which event type: an event is queued for them by index.
subscription_event_types = Table(
    "subscription_event_types",
    metadata,
    Column("subscription_id", ID, ForeignKey("webhook_subscriptions.id"), primary_key=True),
    Column("event_type", String(32), primary_key=True),
    Index(None, "event_type", "subscription_id"),
)

# Deliveries owed: one row per (subscription, event) until it is delivered, then gone (the
# attempts log keeps the record). A deal's deliveries to one subscription go in sequence
# order: only the earliest owed of each (subscription, deal) may be claimed.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("subscription_id", ID, ForeignKey("webhook_subscriptions.id"), primary_key=True),
    Column("event_sequence", SEQUENCE, ForeignKey("outbox_events.sequence"), primary_key=True),
    Column("deal_id", ID, nullable=False),
    Column("replay", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("queued_at", UTCDateTime, nullable=False),
    Index(None, "subscription_id", "deal_id", "event_sequence"),
    Index(None, "event_sequence"),
)

# Every attempt to deliver, kept: the deliveries log an admin reads.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("subscription_id", ID, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("replay", Boolean, nullable=False),
    Index(None, "subscription_id", "attempted_at", "id"),
    CheckConstraint("outcome IN ('delivered', 'failed')", name="outcome"),
)

# The sign-off SLA thresholds told (alerts.py), per commitment and evaluation, in permille of
# the SLA (1000: overdue).
signoff_alerts = Table(
    "signoff_alerts",
    metadata,
    Column("commitment_id", ID, ForeignKey("commitments.id"), primary_key=True),
    Column("evaluation_id", ID, primary_key=True),
    Column("permille", Integer, primary_key=True),
    Column("sent_at", UTCDateTime, nullable=False),
)

# Notifications to people (Slack, email): one per (event, channel, recipient), sent once.
notifications = Table(
    "notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("event_sequence", SEQUENCE, ForeignKey("outbox_events.sequence"), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("event_sequence", "channel", "recipient"),
    Index(None, "channel", "recipient", "state", "event_sequence"),
    CheckConstraint("channel IN ('email', 'slack')", name="channel"),
    CheckConstraint("state IN ('pending', 'sent', 'failed')", name="state"),
)

# One row per person or Slack route: its claim while a message is sent, and when it was
# last sent one (the digest window) or may be tried again.
notification_recipients = Table(
    "notification_recipients",
    metadata,
    Column("channel", String(8), primary_key=True),
    Column("recipient", String(254), primary_key=True),
    Column("last_sent_at", UTCDateTime, nullable=True),
    Column("retry_at", UTCDateTime, nullable=True),
    Column("failures", Integer, nullable=False),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
)

# API keys for machine clients: only the SHA-256 of each key is kept.
# The reviewers directory (kit/contracts/reviewers.py): who decides which areas.
reviewers = Table(
    "reviewers",
    metadata,
    Column("email", String(254), primary_key=True),
    Column("areas", JSON, nullable=False),
    Column("escalation_contact", String(254), nullable=True),
    Column("away_from", UTCDateTime, nullable=True),
    Column("away_until", UTCDateTime, nullable=True),
    Column("delegate", String(254), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "delegate"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),
    Column("created_by", String(254), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# What a CRM's webhook batch named (HubSpot sends ids, not data), kept until the gateway
# has fetched it from the CRM's API: each event once, by the CRM's event id.
crm_notifications = Table(
    "crm_notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("source", String(16), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("subject", String(16), nullable=False),
    Column("object_id", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("deal_external_id", String(200), nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("status", String(8), nullable=False),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("due_at", UTCDateTime, nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("settled_at", UTCDateTime, nullable=True),
    UniqueConstraint("source", "event_id"),
    Index(None, "source", "status", "due_at"),
    CheckConstraint("subject IN ('deal', 'commitment')", name="subject"),
    CheckConstraint("status IN ('pending', 'done', 'ignored')", name="status"),
)

# The gate each CRM deal should show (`ready`, `blocking_count`, raised `version` on every
# change) and what was last written there: a write is owed while the versions differ.
crm_writebacks = Table(
    "crm_writebacks",
    metadata,
    Column("deal_id", ID, ForeignKey("deals.id"), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("ready", Boolean, nullable=False),
    Column("blocking_count", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("written_version", Integer, nullable=False),
    Column("written_ready", Boolean, nullable=True),
    Column("written_blocking_count", Integer, nullable=True),
    Column("written_at", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("due_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Index(None, "source", "due_at"),
)
