"""Broadcast recipients: unique per (broadcast, chat) without a text key; reminders keep theirs.

A broadcast's selection wrote one ``b<id>:<chat>`` key per recipient and a unique index over
them; the pair of integers is the same guarantee, and rows written from now on leave the key
empty. Rows already written keep their keys (the pair index covers only rows without one), so
the upgrade rewrites no row. Neither unique index holds an entry for rows it does not cover.

Revision ID: 0010
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0003"
branch_labels = None
depends_on = None

KEYED = sa.text("idempotency_key IS NOT NULL")
UNKEYED = sa.text("idempotency_key IS NULL")
# SQLite reflects the old inline UNIQUE without a name; batch mode names it by this rule.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique() -> str:
    """The name of the unique constraint 0001 created on ``messages.idempotency_key``."""
    if op.get_bind().dialect.name == "postgresql":
        return "messages_idempotency_key_key"
    return "uq_messages_idempotency_key"


def upgrade() -> None:
    old = _old_unique()
    with op.batch_alter_table("messages", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(old, type_="unique")
        batch_op.alter_column(
            "idempotency_key", existing_type=sa.String(length=100), nullable=True
        )
        batch_op.create_index(
            "uq_messages_idempotency_key",
            ["idempotency_key"],
            unique=True,
            sqlite_where=KEYED,
            postgresql_where=KEYED,
        )
        batch_op.create_index(
            "uq_messages_broadcast_chat",
            ["broadcast_id", "chat_id"],
            unique=True,
            sqlite_where=UNKEYED,
            postgresql_where=UNKEYED,
        )


def downgrade() -> None:
    # Every row gets a key again, the one 0001's selection would have written.
    messages = sa.table(
        "messages",
        sa.column("idempotency_key", sa.String()),
        sa.column("broadcast_id", sa.Integer()),
        sa.column("chat_id", sa.BigInteger()),
    )
    key = (
        sa.literal("b")
        + sa.cast(messages.c.broadcast_id, sa.String())
        + sa.literal(":")
        + sa.cast(messages.c.chat_id, sa.String())
    )
    op.execute(
        messages.update().where(messages.c.idempotency_key.is_(None)).values(idempotency_key=key)
    )
    old = _old_unique()
    with op.batch_alter_table("messages", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_index("uq_messages_broadcast_chat")
        batch_op.drop_index("uq_messages_idempotency_key")
        batch_op.alter_column(
            "idempotency_key", existing_type=sa.String(length=100), nullable=False
        )
        batch_op.create_unique_constraint(old, ["idempotency_key"])
