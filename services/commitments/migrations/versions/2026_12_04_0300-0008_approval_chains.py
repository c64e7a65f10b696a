"""Approval chains: each evaluation records the chain its approval goes through (and the
rule that chose it); each decision the step it was taken at; a decision that lapsed (its
author recalled it, its conditions expired) is kept in `decision_lapses` (decisions stay
append-only). A review under way may be reassigned: the commitment names the assignee and
the step handed over, the thread keeps the reassignment.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


OLD_KINDS = "'question', 'answer', 'recall'"
NEW_KINDS = OLD_KINDS + ", 'reassignment'"


def upgrade() -> None:
    with op.batch_alter_table("commitments") as table:
        table.add_column(sa.Column("assigned_to", sa.String(length=254), nullable=True))
        table.add_column(sa.Column("assigned_step", sa.String(length=64), nullable=True))
    with op.batch_alter_table("commitment_comments") as table:
        table.add_column(sa.Column("assignee", sa.String(length=254), nullable=True))
        table.drop_constraint(op.f("ck_commitment_comments_kind"), type_="check")
        table.create_check_constraint(op.f("ck_commitment_comments_kind"), f"kind IN ({NEW_KINDS})")
    with op.batch_alter_table("evaluations") as table:
        table.add_column(sa.Column("approval_rule", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("approval_chain", sa.JSON(), nullable=True))
    # Not a batch: on SQLite that copies the table and loses its append-only triggers.
    op.execute("ALTER TABLE decisions ADD COLUMN step VARCHAR(64)")
    op.execute("ALTER TABLE decisions ADD COLUMN conditions_expire_on DATE")
    op.create_table(
        "decision_lapses",
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("lapsed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=24), nullable=False),
        sa.CheckConstraint(
            "cause IN ('recalled', 'conditions_expired')", name=op.f("ck_decision_lapses_cause")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_decision_lapses_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decision_lapses")),
    )


def downgrade() -> None:
    op.execute("DELETE FROM commitment_comments WHERE kind = 'reassignment'")
    with op.batch_alter_table("commitment_comments") as table:
        table.drop_constraint(op.f("ck_commitment_comments_kind"), type_="check")
        table.create_check_constraint(op.f("ck_commitment_comments_kind"), f"kind IN ({OLD_KINDS})")
        table.drop_column("assignee")
    with op.batch_alter_table("commitments") as table:
        table.drop_column("assigned_step")
        table.drop_column("assigned_to")
    op.drop_table("decision_lapses")
    op.execute("ALTER TABLE decisions DROP COLUMN conditions_expire_on")
    op.execute("ALTER TABLE decisions DROP COLUMN step")
    with op.batch_alter_table("evaluations") as table:
        table.drop_column("approval_chain")
        table.drop_column("approval_rule")
