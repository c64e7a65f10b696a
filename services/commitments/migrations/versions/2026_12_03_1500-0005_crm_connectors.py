"""The CRM connectors' queues: the notifications a CRM sent that await a fetch from its
API, and the gate each CRM deal should show with what was last written back; a commitment
whose CRM record cannot be read (needs_attention, with the problem).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(length=36)
WHEN = sa.DateTime(timezone=True)


OLD_STATUSES = (
    "'received', 'evaluation_pending', 'cleared', 'needs_signoff', 'approved', 'rejected', "
    "'withdrawn'"
)
NEW_STATUSES = OLD_STATUSES + ", 'needs_attention'"


def upgrade() -> None:
    with op.batch_alter_table("commitments") as table:
        table.add_column(sa.Column("crm_problem", sa.Text(), nullable=True))
        table.drop_constraint(op.f("ck_commitments_review_status"), type_="check")
        table.create_check_constraint(
            op.f("ck_commitments_review_status"), f"review_status IN ({NEW_STATUSES})"
        )
    op.create_table(
        "crm_notifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("deal_external_id", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", WHEN, nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.Column("settled_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "subject IN ('deal', 'commitment')", name=op.f("ck_crm_notifications_subject")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'ignored')", name=op.f("ck_crm_notifications_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_notifications")),
        sa.UniqueConstraint(
            "source", "event_id", name=op.f("uq_crm_notifications_source_event_id")
        ),
    )
    op.create_index(
        op.f("ix_crm_notifications_source_status_due_at"),
        "crm_notifications",
        ["source", "status", "due_at"],
    )
    op.create_table(
        "crm_writebacks",
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("blocking_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("written_version", sa.Integer(), nullable=False),
        sa.Column("written_ready", sa.Boolean(), nullable=True),
        sa.Column("written_blocking_count", sa.Integer(), nullable=True),
        sa.Column("written_at", WHEN, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_crm_writebacks_deal_id_deals")
        ),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_crm_writebacks")),
    )
    op.create_index(op.f("ix_crm_writebacks_source_due_at"), "crm_writebacks", ["source", "due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_crm_writebacks_source_due_at"), table_name="crm_writebacks")
    op.drop_table("crm_writebacks")
    op.drop_index(op.f("ix_crm_notifications_source_status_due_at"), table_name="crm_notifications")
    op.drop_table("crm_notifications")
    op.execute("UPDATE commitments SET review_status = 'received' "
               "WHERE review_status = 'needs_attention'")  # fmt: skip
    with op.batch_alter_table("commitments") as table:
        table.drop_constraint(op.f("ck_commitments_review_status"), type_="check")
        table.create_check_constraint(
            op.f("ck_commitments_review_status"), f"review_status IN ({OLD_STATUSES})"
        )
        table.drop_column("crm_problem")
