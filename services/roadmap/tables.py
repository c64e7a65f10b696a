"""The roadmap database, as SQLAlchemy Core tables. Alembic migrations create it."""

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from kit.db import UTCDateTime, new_metadata

metadata = new_metadata()

vision_tags = Table(
    "vision_tags",
    metadata,
    Column("slug", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('pillar', 'non_goal')", name="kind"),
)

roadmap_items = Table(
    "roadmap_items",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("planned_start", Date, nullable=True),
    Column("planned_end", Date, nullable=True),
    Column("confidence", String(8), nullable=False),
    Column("owner", String(254), nullable=True, index=True),
    Column("area", String(64), nullable=True, index=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, index=True),
    CheckConstraint(
        "status IN ('idea', 'planned', 'in_progress', 'shipped', 'declined')", name="status"
    ),
    CheckConstraint("confidence IN ('low', 'medium', 'high')", name="confidence"),
    CheckConstraint(
        "planned_start IS NULL OR planned_end IS NULL OR planned_start <= planned_end",
        name="planned_order",
    ),
)

roadmap_item_tags = Table(
    "roadmap_item_tags",
    metadata,
    Column(
        "item_key",
        String(32),
        ForeignKey("roadmap_items.key", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_slug", String(64), ForeignKey("vision_tags.slug"), primary_key=True),
    Index(None, "tag_slug"),
)

# The ordered log of every write. Ids come from `change_counter` under its row lock, so
# they commit in id order: a reader that has seen id N never later finds an id below N.
changes = Table(
    "changes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("entity", String(16), nullable=False),
    Column("entity_key", String(64), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("old_version", Integer, nullable=True),
    Column("new_version", Integer, nullable=True),
    Column("fields", JSON, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index(None, "entity", "entity_key"),
    CheckConstraint("entity IN ('roadmap_item', 'vision_tag')", name="entity"),
    CheckConstraint("operation IN ('created', 'updated', 'deleted')", name="operation"),
)

change_counter = Table(
    "change_counter",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# How far each subscriber has been sent the change log; one row per subscriber URL.
delivery_cursors = Table(
    "delivery_cursors",
    metadata,
    Column("subscriber", String(500), primary_key=True),
    Column("last_delivered_id", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    # The sender working on it now, until when; another may take over once it lapses.
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
