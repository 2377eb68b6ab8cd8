"""Storage: SQLAlchemy models, queries and Alembic migrations; SQLite or PostgreSQL."""

from bot.store.blackouts import BlackoutWindow
from bot.store.models import (
    FINAL_DELIVERY,
    ActionCount,
    AuditEntry,
    Base,
    Broadcast,
    CampaignState,
    Delivery,
    DeliveryStatus,
    Message,
    Post,
    PostStatus,
    RuleState,
    Subscriber,
)
from bot.store.posts import PostError
from bot.store.signin import SignInLink, WebSession
from bot.store.state import Store

__all__ = [
    "FINAL_DELIVERY",
    "ActionCount",
    "AuditEntry",
    "Base",
    "BlackoutWindow",
    "Broadcast",
    "CampaignState",
    "Delivery",
    "DeliveryStatus",
    "Message",
    "Post",
    "PostError",
    "PostStatus",
    "RuleState",
    "SignInLink",
    "Store",
    "Subscriber",
    "WebSession",
]
