"""Approval chains: each evaluation records the chain its approval goes through (and the
rule that chose it); each decision the step it was taken at; a recalled decision is kept
in `decision_recalls` (decisions stay append-only).

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


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        table.add_column(sa.Column("approval_rule", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("approval_chain", sa.JSON(), nullable=True))
    # Not a batch: on SQLite that copies the table and loses its append-only triggers.
    op.execute("ALTER TABLE decisions ADD COLUMN step VARCHAR(64)")
    op.create_table(
        "decision_recalls",
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("recalled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_decision_recalls_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decision_recalls")),
    )


def downgrade() -> None:
    op.drop_table("decision_recalls")
    op.execute("ALTER TABLE decisions DROP COLUMN step")
    with op.batch_alter_table("evaluations") as table:
        table.drop_column("approval_chain")
        table.drop_column("approval_rule")
