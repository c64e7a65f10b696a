"""Questions to the rep (info_requested) and each commitment's thread; the decisions audit's
order (decided_at, id).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD_STATUSES = (
    "'received', 'evaluation_pending', 'cleared', 'needs_signoff', 'approved', 'rejected', "
    "'withdrawn', 'needs_attention'"
)
NEW_STATUSES = OLD_STATUSES + ", 'info_requested'"


def upgrade() -> None:
    with op.batch_alter_table("commitments") as table:
        table.drop_constraint(op.f("ck_commitments_review_status"), type_="check")
        table.create_check_constraint(
            op.f("ck_commitments_review_status"), f"review_status IN ({NEW_STATUSES})"
        )
    op.create_table(
        "commitment_comments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('question', 'answer', 'recall')", name=op.f("ck_commitment_comments_kind")
        ),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_commitment_comments_commitment_id_commitments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment_comments")),
    )
    op.create_index(
        op.f("ix_commitment_comments_commitment_id_created_at"),
        "commitment_comments",
        ["commitment_id", "created_at"],
    )
    op.create_index(op.f("ix_decisions_decided_at_id"), "decisions", ["decided_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_decisions_decided_at_id"), table_name="decisions")
    op.drop_index(
        op.f("ix_commitment_comments_commitment_id_created_at"), table_name="commitment_comments"
    )
    op.drop_table("commitment_comments")
    # A question leaves the queue as it found it: awaiting sign-off.
    op.execute(
        "UPDATE commitments SET review_status = 'needs_signoff' "
        "WHERE review_status = 'info_requested'"
    )
    with op.batch_alter_table("commitments") as table:
        table.drop_constraint(op.f("ck_commitments_review_status"), type_="check")
        table.create_check_constraint(
            op.f("ck_commitments_review_status"), f"review_status IN ({OLD_STATUSES})"
        )
