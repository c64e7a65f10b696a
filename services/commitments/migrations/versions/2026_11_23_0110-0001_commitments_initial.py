"""Deals, commitments, evaluations, decisions (append-only), the inbox, breaches.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 01:15:00
"""

import sqlalchemy as sa
from alembic import op

UTC_TIMESTAMP = sa.DateTime(timezone=True)

# Decisions are append-only: the database itself refuses to change or remove one.
APPEND_ONLY_MESSAGE = "decisions are append-only"
PG_APPEND_ONLY = [
    "CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$",
    "CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions "
    "FOR EACH ROW EXECUTE FUNCTION decisions_append_only()",
]
SQLITE_APPEND_ONLY = [
    f"CREATE TRIGGER decisions_no_{verb} BEFORE {verb.upper()} ON decisions "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
    for verb in ("update", "delete")
]

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("account", sa.String(length=300), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("expected_close", sa.Date(), nullable=True),
        sa.Column("owner", sa.String(length=254), nullable=True),
        sa.Column("crm_updated_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("crm_occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "source IN ('salesforce', 'hubspot', 'generic')", name=op.f("ck_deals_source")
        ),
        sa.CheckConstraint(
            "stage IN ('open', 'closed_won', 'closed_lost')", name=op.f("ck_deals_stage")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_deals_source_external_id")),
    )
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deals_owner"), ["owner"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deals_stage_currency"), ["stage", "currency"], unique=False
        )

    op.create_table(
        "inbox",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("deal_id", sa.String(length=36), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("outcome IN ('accepted', 'stale')", name=op.f("ck_inbox_outcome")),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_inbox")),
    )
    op.create_table(
        "breaches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deal_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("blocking", sa.JSON(), nullable=False),
        sa.Column("detected_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("kind IN ('closed_without_signoff')", name=op.f("ck_breaches_kind")),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_breaches_deal_id_deals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaches")),
    )
    with op.batch_alter_table("breaches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_breaches_deal_id"), ["deal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_breaches_detected_at"), ["detected_at"], unique=False)

    op.create_table(
        "commitments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deal_id", sa.String(length=36), nullable=False),
        sa.Column("deal_owner", sa.String(length=254), nullable=True),
        sa.Column("deal_currency", sa.String(length=3), nullable=False),
        sa.Column("deal_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("promised_by", sa.Date(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("roadmap_item_key", sa.String(length=20), nullable=True),
        sa.Column("link_source", sa.String(length=8), nullable=True),
        sa.Column("crm_roadmap_item_key", sa.String(length=20), nullable=True),
        sa.Column("review_status", sa.String(length=24), nullable=False),
        sa.Column("reopen_reason", sa.Text(), nullable=True),
        sa.Column("status_changed_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("current_evaluation_id", sa.String(length=36), nullable=True),
        sa.Column("approved_evaluation_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("work_due_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("work_generation", sa.Integer(), nullable=False),
        sa.Column("work_attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", UTC_TIMESTAMP, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "kind IN ('feature', 'integration', 'custom_work', 'date', 'other')",
            name=op.f("ck_commitments_kind"),
        ),
        sa.CheckConstraint("link_source IN ('crm', 'pm')", name=op.f("ck_commitments_link_source")),
        sa.CheckConstraint(
            "review_status IN ('received', 'evaluation_pending', 'cleared', 'needs_signoff', "
            "'approved', 'rejected', 'withdrawn')",
            name=op.f("ck_commitments_review_status"),
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_commitments_deal_id_deals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
        sa.UniqueConstraint(
            "deal_id", "external_id", name=op.f("uq_commitments_deal_id_external_id")
        ),
    )
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commitments_deal_id_review_status"),
            ["deal_id", "review_status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_commitments_deal_owner_id"), ["deal_owner", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_commitments_review_status_deal_currency_deal_id_deal_amount_cents"),
            ["review_status", "deal_currency", "deal_id", "deal_amount_cents"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_commitments_review_status_id"), ["review_status", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_commitments_review_status_status_changed_at"),
            ["review_status", "status_changed_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_commitments_roadmap_item_key_id"),
            ["roadmap_item_key", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_commitments_work_due_at_id",
            ["work_due_at", "id"],
            unique=False,
            postgresql_where=sa.text("work_due_at IS NOT NULL"),
            sqlite_where=sa.text("work_due_at IS NOT NULL"),
        )

    op.create_table(
        "commitment_tags",
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_commitment_tags_commitment_id_commitments"),
        ),
        sa.PrimaryKeyConstraint("commitment_id", "tag", name=op.f("pk_commitment_tags")),
    )
    with op.batch_alter_table("commitment_tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commitment_tags_tag_commitment_id"),
            ["tag", "commitment_id"],
            unique=False,
        )

    op.create_table(
        "conflict_tallies",
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("dimension", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=254), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("blockers", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "dimension IN ('code', 'item', 'tag', 'owner')",
            name=op.f("ck_conflict_tallies_dimension"),
        ),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_conflict_tallies_commitment_id_commitments"),
        ),
        sa.PrimaryKeyConstraint(
            "commitment_id", "dimension", "key", name=op.f("pk_conflict_tallies")
        ),
    )
    with op.batch_alter_table("conflict_tallies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conflict_tallies_dimension_key_conflicts_blockers"),
            ["dimension", "key", "conflicts", "blockers"],
            unique=False,
        )

    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("commitment_version", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("roadmap_item_versions", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("review_status", sa.String(length=24), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("evaluated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_evaluations_commitment_id_commitments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluations_commitment_id_evaluated_at"),
            ["commitment_id", "evaluated_at"],
            unique=False,
        )

    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("evaluation_id", sa.String(length=36), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("decided_by", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("decided_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("decision IN ('approve', 'reject')", name=op.f("ck_decisions_decision")),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_decisions_commitment_id_commitments"),
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_decisions_evaluation_id_evaluations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_decisions_commitment_id_decided_at"),
            ["commitment_id", "decided_at"],
            unique=False,
        )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_APPEND_ONLY if postgres else SQLITE_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER decisions_append_only ON decisions")
        op.execute("DROP FUNCTION decisions_append_only()")
    else:
        op.execute("DROP TRIGGER decisions_no_update")
        op.execute("DROP TRIGGER decisions_no_delete")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_commitment_id_decided_at"))

    op.drop_table("decisions")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluations_commitment_id_evaluated_at"))

    op.drop_table("evaluations")
    with op.batch_alter_table("conflict_tallies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conflict_tallies_dimension_key_conflicts_blockers"))

    op.drop_table("conflict_tallies")
    with op.batch_alter_table("commitment_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commitment_tags_tag_commitment_id"))

    op.drop_table("commitment_tags")
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_commitments_work_due_at_id",
            postgresql_where=sa.text("work_due_at IS NOT NULL"),
            sqlite_where=sa.text("work_due_at IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_commitments_roadmap_item_key_id"))
        batch_op.drop_index(batch_op.f("ix_commitments_review_status_status_changed_at"))
        batch_op.drop_index(batch_op.f("ix_commitments_review_status_id"))
        batch_op.drop_index(
            batch_op.f("ix_commitments_review_status_deal_currency_deal_id_deal_amount_cents")
        )
        batch_op.drop_index(batch_op.f("ix_commitments_deal_owner_id"))
        batch_op.drop_index(batch_op.f("ix_commitments_deal_id_review_status"))

    op.drop_table("commitments")
    with op.batch_alter_table("breaches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_breaches_detected_at"))
        batch_op.drop_index(batch_op.f("ix_breaches_deal_id"))

    op.drop_table("breaches")
    op.drop_table("inbox")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deals_stage_currency"))
        batch_op.drop_index(batch_op.f("ix_deals_owner"))

    op.drop_table("deals")
