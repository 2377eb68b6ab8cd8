"""Corrections: a delivery can reply to another; item statuses the worker has seen.

Revision ID: 0004
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("corrects_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("external_ref", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint("uq_deliveries_corrects_id", ["corrects_id"])
        batch_op.create_foreign_key(
            "fk_deliveries_corrects_id_deliveries",
            "deliveries",
            ["corrects_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_table(
        "item_statuses",
        sa.Column("item_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )


def downgrade() -> None:
    op.drop_table("item_statuses")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_corrects_id_deliveries", type_="foreignkey")
        batch_op.drop_constraint("uq_deliveries_corrects_id", type_="unique")
        batch_op.drop_column("external_ref")
        batch_op.drop_column("corrects_id")
