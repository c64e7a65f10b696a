"""The reviewers directory; the area that reviews an evaluation; a decision taken on a
reviewer's behalf.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
# The policy's default triage area: evaluations made before areas decided who reviews are
# reviewed by their item's area, or by triage.
TRIAGE = "triage"


def upgrade() -> None:
    op.create_table(
        "reviewers",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("escalation_contact", sa.String(length=254), nullable=True),
        sa.Column("away_from", WHEN, nullable=True),
        sa.Column("away_until", WHEN, nullable=True),
        sa.Column("delegate", sa.String(length=254), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_reviewers")),
    )
    with op.batch_alter_table("reviewers", schema=None) as table:
        table.create_index(table.f("ix_reviewers_delegate"), ["delegate"], unique=False)
    with op.batch_alter_table("evaluations", schema=None) as table:
        table.add_column(sa.Column("review_area", sa.String(length=64), nullable=True))
    op.execute(f"UPDATE evaluations SET review_area = COALESCE(item_area, '{TRIAGE}')")
    with op.batch_alter_table("decisions", schema=None) as table:
        table.add_column(sa.Column("on_behalf_of", sa.String(length=254), nullable=True))


def downgrade() -> None:
    # Not a batch: on SQLite that copies the table and loses its append-only triggers.
    op.execute("ALTER TABLE decisions DROP COLUMN on_behalf_of")
    with op.batch_alter_table("evaluations", schema=None) as table:
        table.drop_column("review_area")
    with op.batch_alter_table("reviewers", schema=None) as table:
        table.drop_index(table.f("ix_reviewers_delegate"))
    op.drop_table("reviewers")
