"""Anonymous totals: sign-ups per sign-up link code and shares per item."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import ShareCount, SignupCount
from bot.store.state import Store


def count_signup(store: Store, code: str) -> None:
    """Add one sign-up to a link code's total (who signed up is not kept)."""
    with store.sessions.begin() as session:
        row = session.get(SignupCount, code, with_for_update=True)
        if row is None:
            session.add(SignupCount(code=code, count=1))
        else:
            row.count += 1


def count_share(store: Store, item_id: str) -> None:
    """Add one share to an item's total (who shared it is not kept)."""
    with store.sessions.begin() as session:
        row = session.get(ShareCount, item_id, with_for_update=True)
        if row is None:
            session.add(ShareCount(item_id=item_id, count=1))
        else:
            row.count += 1


def signup_totals(store: Store) -> dict[str, int]:
    """Sign-ups per link code, most first."""
    with store.sessions() as session:
        rows = session.execute(
            select(SignupCount.code, SignupCount.count).order_by(
                SignupCount.count.desc(), SignupCount.code
            )
        ).all()
    return {code: count for code, count in rows}


def share_totals(store: Store) -> dict[str, int]:
    """Shares per item id, most first."""
    with store.sessions() as session:
        rows = session.execute(
            select(ShareCount.item_id, ShareCount.count).order_by(
                ShareCount.count.desc(), ShareCount.item_id
            )
        ).all()
    return {item_id: count for item_id, count in rows}
