"""A channel that records what it publishes and fails on demand: the seam for outbox tests."""

from __future__ import annotations

from collections import deque

from bot.channels import ChannelError, Outgoing, Published


class RecordingChannel:
    """Publishes into a list; queued errors are raised first, one per call."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.published: list[Outgoing] = []
        self.errors: deque[ChannelError] = deque()

    def fail_with(self, *errors: ChannelError) -> None:
        self.errors.extend(errors)

    async def publish(self, post: Outgoing) -> Published:
        if self.errors:
            raise self.errors.popleft()
        self.published.append(post)
        number = len(self.published)
        return Published(
            external_id=f"{self.name}-{number}",
            url=f"https://example.invalid/{self.name}/{number}",
        )

    async def close(self) -> None:
        return None
