"""Events out: the outbox, webhook subscriptions, the deliveries owed and their log, the
sign-off alerts told; what each commitment and deal last announced, and what made a
commitment's work due.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = sa.String(length=36)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deals") as table:
        table.add_column(sa.Column("announced_ready", sa.Boolean(), nullable=True))
    with op.batch_alter_table("commitments") as table:
        table.add_column(sa.Column("announced_status", sa.String(length=24), nullable=True))
        table.add_column(sa.Column("work_cause", sa.JSON(), nullable=True))
    with op.batch_alter_table("evaluations") as table:
        table.add_column(sa.Column("item_owner", sa.String(length=254), nullable=True))
        table.add_column(sa.Column("item_area", sa.String(length=64), nullable=True))
    # What exists was decided before events went out: it is not announced again on its
    # next touch (a deal's gate is, once: "first known" to the receivers).
    op.execute(
        "UPDATE commitments SET announced_status = review_status "
        "WHERE review_status NOT IN ('received', 'evaluation_pending')"
    )

    op.create_table(
        "outbox_events",
        sa.Column("sequence", SEQUENCE, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("commitment_id", ID, nullable=True),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("routed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_outbox_events_deal_id_deals")
        ),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("id", name=op.f("uq_outbox_events_id")),
    )
    op.create_index(
        op.f("ix_outbox_events_deal_id_sequence"), "outbox_events", ["deal_id", "sequence"]
    )
    op.create_index(op.f("ix_outbox_events_occurred_at"), "outbox_events", ["occurred_at"])
    op.create_index(
        "ix_outbox_events_unrouted",
        "outbox_events",
        ["sequence"],
        postgresql_where=sa.text("routed_at IS NULL"),
        sqlite_where=sa.text("routed_at IS NULL"),
    )

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("previous_secret", sa.String(length=128), nullable=True),
        sa.Column("previous_secret_expires_at", WHEN, nullable=True),
        sa.Column("failing_since", WHEN, nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'disabled', 'failing')",
            name=op.f("ck_webhook_subscriptions_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "subscription_event_types",
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_subscription_event_types_subscription_id_webhook_subscriptions"),
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "event_type", name=op.f("pk_subscription_event_types")
        ),
    )
    op.create_index(
        op.f("ix_subscription_event_types_event_type_subscription_id"),
        "subscription_event_types",
        ["event_type", "subscription_id"],
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("event_sequence", SEQUENCE, nullable=False),
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.Column("queued_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_sequence"],
            ["outbox_events.sequence"],
            name=op.f("fk_webhook_deliveries_event_sequence_outbox_events"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "event_sequence", name=op.f("pk_webhook_deliveries")
        ),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_subscription_id_deal_id_event_sequence"),
        "webhook_deliveries",
        ["subscription_id", "deal_id", "event_sequence"],
    )
    op.create_index(
        op.f("ix_webhook_deliveries_event_sequence"), "webhook_deliveries", ["event_sequence"]
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("attempted_at", WHEN, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('delivered', 'failed')", name=op.f("ck_delivery_attempts_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_delivery_attempts_subscription_id_webhook_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(
        op.f("ix_delivery_attempts_subscription_id_attempted_at_id"),
        "delivery_attempts",
        ["subscription_id", "attempted_at", "id"],
    )
    op.create_table(
        "signoff_alerts",
        sa.Column("commitment_id", ID, nullable=False),
        sa.Column("evaluation_id", ID, nullable=False),
        sa.Column("permille", sa.Integer(), nullable=False),
        sa.Column("sent_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_signoff_alerts_commitment_id_commitments"),
        ),
        sa.PrimaryKeyConstraint(
            "commitment_id", "evaluation_id", "permille", name=op.f("pk_signoff_alerts")
        ),
    )
    op.create_table(
        "notifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_sequence", SEQUENCE, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("channel IN ('email', 'slack')", name=op.f("ck_notifications_channel")),
        sa.CheckConstraint(
            "state IN ('pending', 'sent', 'failed')", name=op.f("ck_notifications_state")
        ),
        sa.ForeignKeyConstraint(
            ["event_sequence"],
            ["outbox_events.sequence"],
            name=op.f("fk_notifications_event_sequence_outbox_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "event_sequence",
            "channel",
            "recipient",
            name=op.f("uq_notifications_event_sequence_channel_recipient"),
        ),
    )
    op.create_index(
        op.f("ix_notifications_channel_recipient_state_event_sequence"),
        "notifications",
        ["channel", "recipient", "state", "event_sequence"],
    )
    op.create_table(
        "notification_recipients",
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("last_sent_at", WHEN, nullable=True),
        sa.Column("retry_at", WHEN, nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("channel", "recipient", name=op.f("pk_notification_recipients")),
    )


def downgrade() -> None:
    op.drop_table("notification_recipients")
    op.drop_table("notifications")
    op.drop_table("signoff_alerts")
    op.drop_table("delivery_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("subscription_event_types")
    op.drop_table("webhook_subscriptions")
    op.drop_table("outbox_events")
    with op.batch_alter_table("evaluations") as table:
        table.drop_column("item_area")
        table.drop_column("item_owner")
    with op.batch_alter_table("commitments") as table:
        table.drop_column("work_cause")
        table.drop_column("announced_status")
    with op.batch_alter_table("deals") as table:
        table.drop_column("announced_ready")
