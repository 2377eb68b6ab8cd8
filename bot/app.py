"""The composition root: the one place that builds the store, channels, scheduler and bot."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from bot.channels import Channel
from bot.channels.console import ConsoleChannel
from bot.clock import Clock, SystemClock
from bot.config import (
    ConfigError,
    LoadedConfig,
    Settings,
    database_url,
    env,
    has_any_credentials,
    load_config,
    missing_credentials,
)
from bot.delivery.notify import LogNotifier, Notifier
from bot.delivery.outbox import Outbox
from bot.library import Library, load_library
from bot.render import Renderer
from bot.schedule.planner import Planner
from bot.schedule.worker import Worker
from bot.store import Store

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application

    AnyApplication = Application[Any, Any, Any, Any, Any, Any]

log = logging.getLogger(__name__)


class ContentError(Exception):
    """The library has problems; ``campaign-bot check`` lists them."""


@dataclass
class Core:
    """Configuration, content and storage: what every command needs."""

    loaded: LoadedConfig
    library: Library
    renderer: Renderer
    store: Store
    clock: Clock

    @property
    def settings(self) -> Settings:
        return self.loaded.settings


def build_core(
    config_path: str | None, *, clock: Clock | None = None, strict: bool = True
) -> Core:
    """Load config and library and open the database (migrated to the latest schema)."""
    loaded = load_config(config_path)
    library, problems = load_library(loaded.library_dir)
    if problems and strict:
        listing = "\n".join(f"  {p}" for p in problems[:20])
        raise ContentError(
            f"the message library has {len(problems)} problem(s); run `campaign-bot check`:\n"
            f"{listing}"
        )
    store = Store(database_url())
    store.upgrade()
    return Core(loaded, library, Renderer(library, loaded.settings), store, clock or SystemClock())


def build_channels(
    settings: Settings,
    store: Store,
    *,
    dry_run: bool,
    out: TextIO | None = None,
    bot: Bot | None = None,
) -> dict[str, Channel]:
    """Build one adapter per enabled channel; all console adapters in a dry run."""
    enabled = settings.enabled_channels
    networks = [name for name in enabled if name != "console"]
    if dry_run or not has_any_credentials(networks):
        return {name: ConsoleChannel(name, out, dry_run=name != "console") for name in enabled}
    missing = {name: missing_credentials(name) for name in networks}
    problems = [f"{name} needs {', '.join(vars_)}" for name, vars_ in missing.items() if vars_]
    if problems:
        raise ConfigError(
            "channels enabled in config lack credentials: "
            + "; ".join(problems)
            + ". Set them in the environment or .env, set `enabled: false` for the channel, "
            "or run with --dry-run."
        )
    channels: dict[str, Channel] = {}
    for name in enabled:
        channels[name] = _network_channel(name, settings, store, out, bot)
    return channels


def _network_channel(
    name: str, settings: Settings, store: Store, out: TextIO | None, bot: Bot | None
) -> Channel:
    options = settings.channels[name]
    if name == "console":
        return ConsoleChannel(name, out)
    if name == "telegram":
        from bot.channels.telegram import TelegramChannel

        if bot is None:
            raise ConfigError("the telegram channel needs TELEGRAM_BOT_TOKEN")
        chat: int | str = env("TELEGRAM_CHANNEL_ID")
        chat = int(chat) if str(chat).lstrip("-").isdigit() else chat
        return TelegramChannel(bot, chat, link_preview=options.link_preview)
    if name == "x":
        from bot.channels.x import XChannel

        return XChannel(
            env("X_CONSUMER_KEY"),
            env("X_CONSUMER_SECRET"),
            env("X_ACCESS_TOKEN"),
            env("X_ACCESS_TOKEN_SECRET"),
        )
    if name == "mastodon":
        from bot.channels.mastodon import MastodonChannel

        return MastodonChannel(
            env("MASTODON_API_BASE_URL"),
            env("MASTODON_ACCESS_TOKEN"),
            visibility=options.visibility,
        )
    if name == "bluesky":
        from bot.channels.bluesky import BlueskyChannel

        return BlueskyChannel(
            env("BLUESKY_HANDLE"),
            env("BLUESKY_APP_PASSWORD"),
            base_url=env("BLUESKY_BASE_URL") or None,
            session_store=store,
        )
    raise ConfigError(f"unknown channel {name}")


def build_telegram(core: Core, token: str) -> AnyApplication:
    """Build the Telegram bot (supporters and staff) on the cheaper aiohttp transport."""
    from bot.telegram.aiohttp_request import AiohttpRequest
    from bot.telegram.application import build_application
    from bot.telegram.i18n import Translator
    from bot.telegram.services import BotServices

    services = BotServices(
        core.settings, core.library, core.renderer, core.store, core.clock, Translator()
    )
    return build_application(
        token,
        env("TELEGRAM_API_BASE_URL"),
        services,
        request=AiohttpRequest(connection_pool_size=256),
        updates_request=AiohttpRequest(connection_pool_size=2),
    )


@dataclass
class Runtime:
    """Everything the long-running worker needs, built once."""

    core: Core
    channels: dict[str, Channel]
    notifier: Notifier
    worker: Worker
    telegram: AnyApplication | None = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)


def build_runtime(core: Core, channels: dict[str, Channel], notifier: Notifier) -> Runtime:
    planner = Planner(core.settings, core.library, core.store, core.clock)
    outbox = Outbox(
        settings=core.settings,
        library=core.library,
        renderer=core.renderer,
        store=core.store,
        channels=channels,
        clock=core.clock,
        notifier=notifier,
    )
    return Runtime(core, channels, notifier, Worker(core.settings, planner, outbox))


async def serve(runtime: Runtime) -> None:
    """Run the worker until SIGTERM or SIGINT, then shut down cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.stop_event.set)
    if runtime.telegram is not None:
        from bot.telegram.application import start

        await start(
            runtime.telegram,
            webhook_url=env("TELEGRAM_WEBHOOK_URL"),
            secret=env("TELEGRAM_WEBHOOK_SECRET"),
            port=int(env("PORT")),
        )
    await runtime.worker.start()
    log.info("worker running; channels: %s", ", ".join(runtime.channels) or "none")
    try:
        await runtime.stop_event.wait()
    finally:
        log.info("shutting down")
        await runtime.worker.stop()
        if runtime.telegram is not None:
            from bot.telegram.application import stop

            await stop(runtime.telegram)
        for channel in runtime.channels.values():
            await channel.close()
        runtime.core.store.close()


def run(config_path: str | None, *, dry_run: bool) -> None:
    """Build everything and run the worker (the Procfile's process)."""
    core = build_core(config_path)
    token = env("TELEGRAM_BOT_TOKEN")
    telegram = None
    if token and not dry_run:
        from bot.telegram.redaction import install_token_redaction

        install_token_redaction(token)
        telegram = build_telegram(core, token)
    bot = telegram.bot if telegram is not None else None
    channels = build_channels(core.settings, core.store, dry_run=dry_run, bot=bot)
    if all(isinstance(c, ConsoleChannel) for c in channels.values()):
        log.info("dry run: posts are printed here, not published")
    notifier: Notifier = LogNotifier()
    if bot is not None:
        from bot.telegram.notifier import TelegramNotifier

        notifier = TelegramNotifier(bot, core.settings.staff)
    runtime = build_runtime(core, channels, notifier)
    runtime.telegram = telegram
    asyncio.run(serve(runtime))
