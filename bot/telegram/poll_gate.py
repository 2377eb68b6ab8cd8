"""One poller per bot: getUpdates leaves only from the process that holds the poller duty."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import RequestData

from bot.telegram.aiohttp_request import AiohttpRequest

# A process that does not hold the duty answers PTB's poll itself after this long, with no
# updates, and looks again: cheap, and it starts polling within this long of taking over.
IDLE_POLL = 1.0
CHECK_EVERY = 0.1
NO_UPDATES = b'{"ok":true,"result":[]}'
# Seconds a poll may outlast its ``timeout`` on the server (answer, network).
POLL_SLACK = 1.0

# Is the duty held for at least this many more seconds?
Gate = Callable[[float], bool]


class GatedUpdatesRequest(AiohttpRequest):
    """The request object of PTB's updater: sends getUpdates only while ``gate`` says this
    process holds the poller duty for the whole long poll, so that the poll of a holder that
    froze has ended on the server before the lease lets another process poll."""

    def __init__(self, gate: Gate, **kwargs: float | int | None) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.gate = gate

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request, unless it is a poll this process may not make now."""
        if url.endswith("/getUpdates") and not await self._may_poll(request_data):
            return 200, NO_UPDATES
        return await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )

    async def _may_poll(self, request_data: RequestData | None) -> bool:
        parameters = request_data.parameters if request_data is not None else {}
        try:
            needed = float(str(parameters.get("timeout", 0))) + POLL_SLACK
        except ValueError:
            needed = POLL_SLACK
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IDLE_POLL
        while not self.gate(needed):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(CHECK_EVERY)
        return True
