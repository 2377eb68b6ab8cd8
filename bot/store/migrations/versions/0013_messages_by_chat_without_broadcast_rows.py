"""A chat's messages are found without an index entry per broadcast row.

The index on ``messages.chat_id`` took an entry for every recipient a selection wrote: a
third of a second or more of a million-recipient selection on PostgreSQL, and again for
every claim and outcome (an update that changes ``status`` writes a new entry in every
index). A chat's broadcast rows are found through the pair index (broadcast, chat), one
probe per broadcast; this index keeps only the keyed rows (reminders, and broadcast rows
written before revision 0010), which the pair index does not hold.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KEYED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_messages_keyed_chat",
        "messages",
        ["chat_id"],
        sqlite_where=KEYED,
        postgresql_where=KEYED,
    )
    op.drop_index("ix_messages_chat_id", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_chat_id", "messages", ["chat_id"])
    op.drop_index("ix_messages_keyed_chat", table_name="messages")
