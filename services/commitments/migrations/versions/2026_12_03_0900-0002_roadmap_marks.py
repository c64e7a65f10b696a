"""The roadmap versions whose re-checks were marked, so none is marked twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roadmap_marks",
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "entity IN ('roadmap_item', 'vision_tag')", name=op.f("ck_roadmap_marks_entity")
        ),
        sa.PrimaryKeyConstraint("entity", "key", name=op.f("pk_roadmap_marks")),
    )


def downgrade() -> None:
    op.drop_table("roadmap_marks")
