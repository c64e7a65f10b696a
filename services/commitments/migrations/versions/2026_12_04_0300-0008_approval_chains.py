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
    op.add_column("commitments", sa.Column("assigned_to", sa.String(length=254), nullable=True))
    op.add_column("commitments", sa.Column("assigned_step", sa.String(length=64), nullable=True))
    with op.batch_alter_table("commitment_comments") as table:
        table.add_column(sa.Column("assignee", sa.String(length=254), nullable=True))
        table.drop_constraint(op.f("ck_commitment_comments_kind"), type_="check")
        table.create_check_constraint(op.f("ck_commitment_comments_kind"), f"kind IN ({NEW_KINDS})")
    op.add_column("evaluations", sa.Column("approval_rule", sa.String(length=64), nullable=True))
    op.add_column("evaluations", sa.Column("approval_chain", sa.JSON(), nullable=True))
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
    # A recall before this revision only cleared the standing approval: the decision it
    # recalled (its author's latest before the recall) is kept as lapsed, so it does not
    # count again.
    op.execute(
        "INSERT INTO decision_lapses (decision_id, lapsed_at, cause) "
        "SELECT target, MIN(recalled_at), 'recalled' FROM ("
        "  SELECT c.created_at AS recalled_at, ("
        "    SELECT d.id FROM decisions d WHERE d.commitment_id = c.commitment_id"
        "    AND d.decided_by = c.author AND d.decided_at <= c.created_at"
        "    ORDER BY d.decided_at DESC, d.id DESC LIMIT 1) AS target"
        "  FROM commitment_comments c WHERE c.kind = 'recall') recalls "
        "WHERE target IS NOT NULL GROUP BY target"
    )


def downgrade() -> None:
    op.execute("DELETE FROM commitment_comments WHERE kind = 'reassignment'")
    with op.batch_alter_table("commitment_comments") as table:
        table.drop_constraint(op.f("ck_commitment_comments_kind"), type_="check")
        table.create_check_constraint(op.f("ck_commitment_comments_kind"), f"kind IN ({OLD_KINDS})")
        table.drop_column("assignee")
    # Not a batch: on SQLite that copies the table, which rows of others refer to.
    op.execute("ALTER TABLE commitments DROP COLUMN assigned_step")
    op.execute("ALTER TABLE commitments DROP COLUMN assigned_to")
    op.drop_table("decision_lapses")
    op.execute("ALTER TABLE decisions DROP COLUMN conditions_expire_on")
    op.execute("ALTER TABLE decisions DROP COLUMN step")
    op.execute("ALTER TABLE evaluations DROP COLUMN approval_chain")
    op.execute("ALTER TABLE evaluations DROP COLUMN approval_rule")
