"""The composition root: the one place that builds the store, channels, scheduler and bot."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

from bot.accounts import Account, all_accounts
from bot.channels import Channel
from bot.channels.console import ConsoleChannel
from bot.clock import Clock, SystemClock
from bot.config import (
    ACCOUNT_CREDENTIALS,
    ConfigError,
    LoadedConfig,
    Settings,
    account_env,
    dashboard_url,
    database_url,
    env,
    has_any_credentials,
    http_port,
    load_config,
    missing_credentials,
    prefer_ptb_timedelta,
)
from bot.delivery.audience import Audience, build_audience
from bot.delivery.notify import LogNotifier, Notifier
from bot.delivery.outbox import Outbox
from bot.delivery.private import ConsoleSender, PrivateSender
from bot.delivery.replicas import PACER, POLLER, SOLO, Replica
from bot.delivery.withdrawals import StatusWatch
from bot.library import Library, load_library
from bot.render import Renderer
from bot.schedule.planner import Planner
from bot.schedule.worker import Worker
from bot.staff_list import StaffList
from bot.store import Store
from bot.store.single import hold_sqlite

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application

    from bot.web import WebServer

    AnyApplication = Application[Any, Any, Any, Any, Any, Any]

log = logging.getLogger(__name__)
DRY_RUN_STAFF = 1  # signs in to a dry run's dashboard when the config names no staff


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

    @cached_property
    def staff(self) -> StaffList:
        """The staff ids, re-read from the config file when it changes (removal ends access
        at once): one list for the chat commands and the dashboard."""
        return StaffList(self.loaded.path, self.settings.staff)


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
    """Build one adapter per enabled account (``x``, ``x:kurdish``); all console adapters in a
    dry run."""
    accounts = all_accounts(settings)
    networks = [a.key for a in accounts if a.network != "console"]
    # The plain credentials of a network with named accounts count too: set but unused, they
    # must not turn a misnamed setup into a silent dry run.
    plain = sorted({a.network for a in accounts if a.name})
    if dry_run or not has_any_credentials(networks + plain):
        return {
            a.key: ConsoleChannel(a.key, out, dry_run=a.network != "console") for a in accounts
        }
    missing = {name: missing_credentials(name) for name in networks}
    problems = [f"{name} needs {', '.join(vars_)}" for name, vars_ in missing.items() if vars_]
    unused = [
        variable
        for network in plain
        for variable in ACCOUNT_CREDENTIALS[network]
        if account_env(variable)
    ]
    if problems and unused:
        problems.append(
            f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} set, but named "
            "accounts read only their own (NAME__ACCOUNT)"
        )
    if problems:
        raise ConfigError(
            "channels enabled in config lack credentials: "
            + "; ".join(problems)
            + ". Set them in the environment or .env, set `enabled: false` for the channel, "
            "or run with --dry-run."
        )
    channels: dict[str, Channel] = {}
    for account in accounts:
        channels[account.key] = _network_channel(account, settings, store, out, bot)
    return channels


def _network_channel(
    account: Account, settings: Settings, store: Store, out: TextIO | None, bot: Bot | None
) -> Channel:
    name, key = account.network, account.key
    options = settings.channels[name]

    def cred(variable: str) -> str:
        return account_env(variable, account.name)

    if name == "console":
        return ConsoleChannel(name, out)
    if name == "telegram":
        from bot.channels.telegram import TelegramChannel

        if bot is None:
            raise ConfigError("the telegram channel needs TELEGRAM_BOT_TOKEN")
        chat: int | str = cred("TELEGRAM_CHANNEL_ID")
        chat = int(chat) if str(chat).lstrip("-").isdigit() else chat
        buttons = None
        if options.signup_button:
            from bot.telegram.i18n import Translator
            from bot.telegram.signup_button import SignupButton

            buttons = SignupButton(bot, settings, Translator())
        return TelegramChannel(
            bot, chat, name=key, link_preview=options.link_preview, buttons=buttons
        )
    if name == "x":
        from bot.channels.x import XChannel

        return XChannel(
            cred("X_CONSUMER_KEY"),
            cred("X_CONSUMER_SECRET"),
            cred("X_ACCESS_TOKEN"),
            cred("X_ACCESS_TOKEN_SECRET"),
            name=key,
        )
    if name == "mastodon":
        from bot.channels.mastodon import MastodonChannel

        return MastodonChannel(
            cred("MASTODON_API_BASE_URL"),
            cred("MASTODON_ACCESS_TOKEN"),
            name=key,
            visibility=options.visibility,
        )
    if name == "bluesky":
        from bot.channels.bluesky import BlueskyChannel

        return BlueskyChannel(
            cred("BLUESKY_HANDLE"),
            cred("BLUESKY_APP_PASSWORD"),
            name=key,
            base_url=cred("BLUESKY_BASE_URL") or None,
            session_store=store,
        )
    raise ConfigError(f"unknown channel {name}")


def build_telegram(core: Core, token: str, replica: Replica | None = None) -> AnyApplication:
    """Build the Telegram bot (supporters, staff, reminder buttons) on the aiohttp transport;
    with ``replica``, it polls only while holding the poller duty."""
    from bot.telegram import inline, reminder_buttons
    from bot.telegram.aiohttp_request import AiohttpRequest
    from bot.telegram.application import build_application
    from bot.telegram.i18n import Translator
    from bot.telegram.poll_gate import GatedUpdatesRequest
    from bot.telegram.services import BotServices

    updates_request = AiohttpRequest(connection_pool_size=2)
    if replica is not None:
        gate = replica

        def may_poll(seconds: float) -> bool:
            return gate.holds(POLLER, for_seconds=seconds)

        updates_request = GatedUpdatesRequest(may_poll, connection_pool_size=2)

    services = BotServices(
        core.settings, core.library, core.renderer, core.store, core.clock, Translator()
    )
    services.staff_list = core.staff  # removal at once
    return build_application(
        token,
        env("TELEGRAM_API_BASE_URL"),
        services,
        request=AiohttpRequest(connection_pool_size=64),
        updates_request=updates_request,
        extra=[reminder_buttons.register, inline.register],
    )


def connect_audience(telegram: AnyApplication, audience: Audience) -> None:
    """Let the bot recompute a supporter's next reminder after /settings, and show broadcast
    progress in /stats."""
    from bot.telegram.services import SERVICES_KEY, BotServices

    services = telegram.bot_data[SERVICES_KEY]
    assert isinstance(services, BotServices)
    services.on_settings_changed = audience.reschedule
    services.extra_stats.append(audience.stats_lines)


def build_private_sender(token: str) -> PrivateSender:
    """The fan-out's sender: its own connection pool, so broadcasts never delay replies."""
    from bot.telegram.private_sender import build_private_sender as build

    return build(token, env("TELEGRAM_API_BASE_URL"))


@dataclass
class Runtime:
    """Everything the long-running worker needs, built once."""

    core: Core
    channels: dict[str, Channel]
    notifier: Notifier
    worker: Worker
    audience: Audience | None = None
    telegram: AnyApplication | None = None
    replica: Replica | None = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)


def build_runtime(
    core: Core,
    channels: dict[str, Channel],
    notifier: Notifier,
    *,
    sender: PrivateSender | None = None,
    replica: Replica | None = None,
) -> Runtime:
    """The worker; with ``sender`` also reminders and broadcasts to supporters' private chats;
    with ``replica``, work in flight is owned by this process among replicas."""
    ownership = replica or SOLO
    planner = Planner(core.settings, core.library, core.store, core.clock)
    outbox = Outbox(
        settings=core.settings,
        library=core.library,
        renderer=core.renderer,
        store=core.store,
        channels=channels,
        clock=core.clock,
        notifier=notifier,
        ownership=ownership,
    )
    worker = Worker(core.settings, planner, outbox)
    watch = StatusWatch(core.library, core.store, core.clock, notifier)
    worker.before_tick.append(watch.check)
    audience = None
    if sender is not None:
        audience = build_audience(core, sender, notifier, ownership=ownership)
        worker.extra_jobs.extend(audience.jobs)
    if replica is not None:
        replica.takeovers.append(outbox.recover)
        if audience is not None:
            replica.takeovers.append(audience.fanout.recover)
    return Runtime(core, channels, notifier, worker, audience, replica=replica)


async def learn_limits(renderer: Renderer, channels: dict[str, Channel]) -> None:
    """Ask servers for their post length limit (a Mastodon instance may allow more than 500)."""
    from bot.channels.mastodon import MastodonChannel

    for name, channel in channels.items():
        if isinstance(channel, MastodonChannel):
            network = name.partition(":")[0]
            limit = await channel.max_characters()
            # Accounts on different servers: a post must fit the strictest of them.
            known = renderer.server_limits.get(network)
            renderer.server_limits[network] = limit if known is None else min(known, limit)
            log.info("%s allows %d characters per post", name, limit)


async def serve(runtime: Runtime) -> None:
    """Run the worker until SIGTERM or SIGINT, then shut down cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.stop_event.set)
    if runtime.replica is not None:
        sqlite = runtime.core.store.engine.dialect.name == "sqlite"
        await runtime.replica.start(alone=sqlite)  # SQLite: the lock file made it the only one
        runtime.replica.launch()
    web_server = build_web_server(runtime)
    await web_server.start()
    startup = None
    if runtime.telegram is not None:
        from telegram.error import InvalidToken

        from bot.telegram.startup import start_telegram

        try:
            startup = await start_telegram(
                runtime.telegram,
                runtime.worker.outbox,
                runtime.channels,
                on_rejected=runtime.stop_event.set,
                webhook_url=env("TELEGRAM_WEBHOOK_URL"),
                secret=env("TELEGRAM_WEBHOOK_SECRET"),
                own_server=True,
            )
        except InvalidToken:
            await web_server.stop()
            runtime.core.store.close()
            raise ConfigError(REJECTED_TOKEN) from None
    await learn_limits(runtime.core.renderer, runtime.channels)
    await runtime.worker.start()
    if runtime.audience is not None:
        # Private messages need Telegram: they start once it is up.
        if startup is None:
            await runtime.audience.start()
        else:
            await startup.after_start(runtime.audience.start)
    if startup is not None and hasattr(runtime.notifier, "flush"):
        await startup.after_start(runtime.notifier.flush)  # notices kept while Telegram was away
    log.info("worker running; channels: %s", ", ".join(runtime.channels) or "none")
    from bot.heap import freeze_startup_objects
    from bot.web.launch import announce

    freeze_startup_objects()

    announce(
        runtime.core,
        env("DASHBOARD_URL").rstrip("/") or web_server.url,
        signin_as=None if runtime.telegram is not None else dry_run_staff(runtime.core.settings),
    )
    try:
        await runtime.stop_event.wait()
    finally:
        log.info("shutting down")
        await web_server.stop()
        if startup is not None:
            await startup.stop()
        await runtime.worker.stop()
        if runtime.audience is not None:
            await runtime.audience.stop()
            await runtime.audience.fanout.sender.close()
        if runtime.telegram is not None:
            from bot.telegram.application import stop

            await stop(runtime.telegram)
        for channel in runtime.channels.values():
            await channel.close()
        if runtime.replica is not None:
            await runtime.replica.stop()
        runtime.core.store.close()
    if startup is not None and startup.rejected is not None:
        raise ConfigError(REJECTED_TOKEN)


REJECTED_TOKEN = (
    "Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather, or unset it for a dry run"
)


def dry_run_staff(settings: Settings) -> int:
    """Who a dry run's start-up link signs in: the first staff id, or a local one."""
    return settings.staff[0] if settings.staff else DRY_RUN_STAFF


def build_web_server(runtime: Runtime) -> WebServer:
    """The process's HTTP server: dashboard, /healthz, /metrics and the Telegram webhook."""
    from urllib.parse import urlsplit

    from bot.web import Dashboard, WebServer, build_web_app

    audience = runtime.audience
    board = Dashboard(
        runtime.core,
        list(runtime.channels),
        secure_cookies=dashboard_url().startswith("https://"),
        fanout=lambda: audience.fanout if audience is not None else None,
    )
    if runtime.telegram is None and not runtime.core.settings.staff:
        board.local_staff = DRY_RUN_STAFF
    webhook_url = env("TELEGRAM_WEBHOOK_URL")
    if runtime.telegram is not None and webhook_url:
        from bot.telegram.application import receiver

        board.on_update = receiver(runtime.telegram)
        board.webhook_path = urlsplit(webhook_url).path or "/"
        board.webhook_secret = env("TELEGRAM_WEBHOOK_SECRET")
    return WebServer(build_web_app(board), env("HOST"), http_port())


def run(config_path: str | None, *, dry_run: bool) -> None:
    """Build everything and run the worker (the Procfile's process)."""
    prefer_ptb_timedelta()
    lock = hold_sqlite(database_url())  # held until the process ends
    core = build_core(config_path)
    token = env("TELEGRAM_BOT_TOKEN")
    telegram = None
    polling = bool(token) and not dry_run and not env("TELEGRAM_WEBHOOK_URL")
    # In webhook mode every replica takes updates; long polling is one process's duty.
    duties = [PACER, POLLER] if polling else [PACER]
    replica = Replica(core.store, core.clock, LogNotifier(), duties=duties)
    notifier: Notifier = LogNotifier()
    # Reminders and broadcasts go to supporters' chats; in a dry run they are printed.
    sender: PrivateSender = ConsoleSender()
    if token and not dry_run:
        from bot.telegram.notifier import TelegramNotifier
        from bot.telegram.redaction import install_token_redaction

        install_token_redaction(token)
        telegram = build_telegram(core, token, replica)
        notifier = TelegramNotifier(telegram.bot, core.settings.staff)
        replica.notifier = notifier
        sender = build_private_sender(token)
    bot = telegram.bot if telegram is not None else None
    channels = build_channels(core.settings, core.store, dry_run=dry_run, bot=bot)
    if all(isinstance(c, ConsoleChannel) for c in channels.values()):
        log.info("dry run: posts are printed here, not published")
    runtime = build_runtime(core, channels, notifier, sender=sender, replica=replica)
    if telegram is not None and runtime.audience is not None:
        connect_audience(telegram, runtime.audience)
    runtime.telegram = telegram
    try:
        asyncio.run(serve(runtime))
    finally:
        if lock is not None:
            lock.close()
