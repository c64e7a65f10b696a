"""Roadmap items, vision tags, the change log and delivery cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite: an FTS5 table kept in step by triggers, joined on `key` (a text primary key's
# rowid is not stable across VACUUM).
# Frozen copy of services.roadmap.search.PG_DOCUMENT as of this revision.
PG_DOCUMENT = (
    "setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', description), 'B')"
)

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE roadmap_items_fts USING fts5("
    "key UNINDEXED, title, description, tokenize = 'porter unicode61')",
    "CREATE TRIGGER roadmap_items_fts_insert AFTER INSERT ON roadmap_items BEGIN "
    "INSERT INTO roadmap_items_fts (key, title, description) "
    "VALUES (new.key, new.title, new.description); END",
    "CREATE TRIGGER roadmap_items_fts_delete AFTER DELETE ON roadmap_items BEGIN "
    "DELETE FROM roadmap_items_fts WHERE key = old.key; END",
    "CREATE TRIGGER roadmap_items_fts_update AFTER UPDATE ON roadmap_items BEGIN "
    "UPDATE roadmap_items_fts SET title = new.title, description = new.description "
    "WHERE key = old.key; END",
]

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vision_tags",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("kind IN ('pillar', 'non_goal')", name="ck_vision_tags_kind"),
        sa.PrimaryKeyConstraint("slug", name="pk_vision_tags"),
    )
    op.create_table(
        "roadmap_items",
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("planned_start", sa.Date(), nullable=True),
        sa.Column("planned_end", sa.Date(), nullable=True),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.Column("owner", sa.String(254), nullable=True),
        sa.Column("area", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('idea', 'planned', 'in_progress', 'shipped', 'declined')",
            name="ck_roadmap_items_status",
        ),
        sa.CheckConstraint(
            "confidence IN ('low', 'medium', 'high')", name="ck_roadmap_items_confidence"
        ),
        sa.CheckConstraint(
            "planned_start IS NULL OR planned_end IS NULL OR planned_start <= planned_end",
            name="ck_roadmap_items_planned_order",
        ),
        sa.PrimaryKeyConstraint("key", name="pk_roadmap_items"),
    )
    for column in ("status", "owner", "area", "updated_at"):
        op.create_index(f"ix_roadmap_items_{column}", "roadmap_items", [column])
    op.create_table(
        "roadmap_item_tags",
        sa.Column("item_key", sa.String(32), nullable=False),
        sa.Column("tag_slug", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_key"],
            ["roadmap_items.key"],
            name="fk_roadmap_item_tags_item_key_roadmap_items",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_slug"], ["vision_tags.slug"], name="fk_roadmap_item_tags_tag_slug_vision_tags"
        ),
        sa.PrimaryKeyConstraint("item_key", "tag_slug", name="pk_roadmap_item_tags"),
    )
    op.create_index("ix_roadmap_item_tags_tag_slug", "roadmap_item_tags", ["tag_slug"])
    op.create_table(
        "changes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_key", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("old_version", sa.Integer(), nullable=True),
        sa.Column("new_version", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("entity IN ('roadmap_item', 'vision_tag')", name="ck_changes_entity"),
        sa.CheckConstraint(
            "operation IN ('created', 'updated', 'deleted')", name="ck_changes_operation"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
    )
    op.create_index("ix_changes_entity_entity_key", "changes", ["entity", "entity_key"])
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_change_counter_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_change_counter"),
    )
    op.bulk_insert(counter, [{"id": 1, "last_id": 0}])
    op.create_table(
        "delivery_cursors",
        sa.Column("subscriber", sa.String(500), nullable=False),
        sa.Column("last_delivered_id", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("claimed_until", UTC_TIMESTAMP, nullable=True),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("subscriber", name="pk_delivery_cursors"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX ix_roadmap_items_search ON roadmap_items USING gin (({PG_DOCUMENT}))"
        )
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_roadmap_items_search")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER roadmap_items_fts_{trigger}")
        op.execute("DROP TABLE roadmap_items_fts")
    for table in (
        "delivery_cursors",
        "change_counter",
        "changes",
        "roadmap_item_tags",
        "roadmap_items",
        "vision_tags",
    ):
        op.drop_table(table)
