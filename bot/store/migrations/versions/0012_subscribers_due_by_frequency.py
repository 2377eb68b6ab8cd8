"""The reminders index carries the frequency: subscribers without a time are found by seeking.

Every quarter of an hour the reminders job looks for subscribers who want reminders but
have no next time (rows imported or written before reminder times). With the index on
(active, next_reminder_at) that look read every active subscriber without a time, which is
everyone with reminders off: 30 ms of an idle worker's CPU for 100,000 subscribers, to find
nobody. With the frequency as a third column it seeks the two frequencies that remind and
reads only those rows. The due query uses the first two columns as before; SQLite chooses
this index without statistics (it constrains more columns than any other).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_subscribers_due", table_name="subscribers")
    op.create_index(
        "ix_subscribers_due", "subscribers", ["active", "next_reminder_at", "reminder"]
    )


def downgrade() -> None:
    op.drop_index("ix_subscribers_due", table_name="subscribers")
    op.create_index("ix_subscribers_due", "subscribers", ["active", "next_reminder_at"])
