"""One measured bot process for the broadcast benchmark: the fan-out, or a baseline loop."""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError

from benchmarks.measure import MemorySampler, cpu_seconds, peak_rss_bytes
from bot.app import Core
from bot.clock import SystemClock
from bot.config import load_config
from bot.delivery.audience import build_audience
from bot.delivery.broadcasts import plan_broadcast, progress, start_broadcast
from bot.delivery.fanout import FanOutOptions
from bot.delivery.notify import LogNotifier
from bot.heap import freeze_startup_objects
from bot.library import load_library
from bot.render import Renderer
from bot.store import Store, Subscriber
from bot.store.audience import ACTIVE_BROADCAST, BroadcastStatus, get_broadcast
from bot.telegram.private_sender import build_private_sender

ITEM = "a-share"
POLL = 0.1


def build(spec: dict[str, Any]) -> Core:
    loaded = load_config(Path(spec["config"]))
    library, _ = load_library(loaded.library_dir)
    store = Store(spec["database"])
    return Core(loaded, library, Renderer(library, loaded.settings), store, SystemClock())


async def fanout(spec: dict[str, Any], core: Core) -> dict[str, Any]:
    """Start the fan-out like the worker does, queue the broadcast, wait for the last message."""
    sender = build_private_sender(spec["token"], spec["api"], pool=256)
    options = FanOutOptions(rate=min(spec["rate"], 30.0), paid_rate=spec["rate"])
    audience = build_audience(core, sender, LogNotifier(), options=options)
    await audience.start()
    freeze_startup_objects()  # as `campaign-bot run` does once it has started
    plan = plan_broadcast(
        core.settings, core.library, core.store, ITEM, rate=spec["rate"], paid=spec["paid"]
    )
    started, cpu, loop_cpu = time.monotonic(), cpu_seconds(), time.thread_time()
    started_at = core.clock.now()
    broadcast = start_broadcast(core.store, plan, "bench", "cli", started_at)
    # A time-limited run (the memory runs) lets the selection of every recipient finish,
    # then fans out for ``time_limit`` seconds more.
    limit = spec["time_limit"]
    selected: float | None = None
    while True:
        # One primary-key read, off the event loop: the harness's own polling must not be
        # what the run measures (a status count over every row cost 0.1 ms per message).
        broadcast = await asyncio.to_thread(get_broadcast, core.store, broadcast.id)
        status = broadcast.status
        now = time.monotonic()
        if selected is None and status != BroadcastStatus.SELECTING:
            selected = now
        if status not in ACTIVE_BROADCAST:
            break
        if limit and selected is not None and now - selected > limit:
            break
        await asyncio.sleep(POLL)
    seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu
    loop_cpu = time.thread_time() - loop_cpu
    if broadcast.finished_at is not None:
        # The broadcast's own record of when its last outcome was written, rather than when
        # this loop next looked (up to POLL later).
        seconds = (broadcast.finished_at - started_at).total_seconds()
    await audience.stop()
    await sender.close()
    state = progress(core.store, broadcast.id)
    return {
        "sent": state.counts.get("sent", 0),
        "seconds": seconds,
        "cpu": cpu,
        "loop_cpu": loop_cpu,  # the event loop's thread; the rest is database threads
        "selection_seconds": (selected or time.monotonic()) - started,
        "selected": state.total,
    }


async def baseline(spec: dict[str, Any], core: Core, paced: bool) -> dict[str, Any]:
    """The loops people write: PTB's send_message per chat, optionally 0.05 s apart."""
    with core.store.sessions() as session:
        chats = list(session.scalars(select(Subscriber.chat_id).order_by(Subscriber.chat_id)))
    texts = {
        lang: core.renderer.render(core.library.get(ITEM), "telegram", lang).text
        for lang in ("en", "ar", "ckb")
    }
    sent = 0
    async with Bot(spec["token"], base_url=f"{spec['api']}/bot") as bot:
        started, cpu = time.monotonic(), cpu_seconds()
        for chat in chats:
            try:
                await bot.send_message(chat, texts["en"], parse_mode=ParseMode.HTML)
                sent += 1
            except RetryAfter as exc:  # aiogram's example: wait, then go on
                await asyncio.sleep(exc.retry_after.total_seconds())  # type: ignore[union-attr]
            except TelegramError:
                pass
            if paced:
                await asyncio.sleep(0.05)
        seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu
    return {"sent": sent, "seconds": seconds, "cpu": cpu}


def main() -> None:
    spec = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING)
    # The main thread's CPU time (not wall time: the machine may be shared).
    profiler = cProfile.Profile(time.thread_time) if spec.get("profile") else None
    with MemorySampler() as memory:
        core = build(spec)
        if profiler is not None:
            profiler.enable()
        if spec["mode"] == "fanout":
            result = asyncio.run(fanout(spec, core))
        else:
            result = asyncio.run(baseline(spec, core, paced=spec["mode"] == "paced"))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(spec["profile"])
        core.store.close()
    peak = max(memory.peak, peak_rss_bytes())
    result.update(mode=spec["mode"], peak_rss_mb=peak / 2**20, at=datetime.now(UTC).isoformat())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
