"""Accounts: a delivery names the account of its network; existing rows are the unnamed one.

Revision ID: 0005
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing deliveries went to the network's only account: "" keeps them, and their
    # idempotency keys, exactly as they were.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("account", sa.String(length=30), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_delivery_post_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_delivery_post_channel_account", ["post_id", "channel", "account"]
        )
    # A Bluesky session is saved per account, under keys such as "bluesky:kurdish".
    with op.batch_alter_table("channel_sessions", schema=None) as batch_op:
        batch_op.alter_column(
            "channel", existing_type=sa.String(length=20), type_=sa.String(length=60)
        )


def downgrade() -> None:
    with op.batch_alter_table("channel_sessions", schema=None) as batch_op:
        batch_op.alter_column(
            "channel", existing_type=sa.String(length=60), type_=sa.String(length=20)
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_delivery_post_channel_account", type_="unique")
        batch_op.create_unique_constraint("uq_delivery_post_channel", ["post_id", "channel"])
        batch_op.drop_column("account")
