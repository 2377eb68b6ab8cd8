"""Publishing channels behind one protocol."""

from bot.channels.base import (
    Channel,
    ChannelError,
    ErrorKind,
    Link,
    Outgoing,
    Published,
    ReplyTarget,
    SessionStore,
)

__all__ = [
    "Channel",
    "ChannelError",
    "ErrorKind",
    "Link",
    "Outgoing",
    "Published",
    "ReplyTarget",
    "SessionStore",
]
