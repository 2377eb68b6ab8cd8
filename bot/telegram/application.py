"""Build the python-telegram-bot Application and route every kind of update to a handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.error import InvalidToken
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.store.outage import OutageReporter
from bot.telegram import broadcasting, dashboard, onboarding, staff, supporters
from bot.telegram.access import Handler
from bot.telegram.services import SERVICES_KEY, BotServices, services

log = logging.getLogger(__name__)
AnyApplication = Application[Any, Any, Any, Any, Any, Any]

POLL_TIMEOUT = 5  # seconds a getUpdates long poll waits for updates
PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE  # edits are ignored
SUPPORTER_COMMANDS: dict[str, Handler] = {
    "start": supporters.start,
    "settings": onboarding.settings_command,
    "act": supporters.act,
    "facts": supporters.facts,
    "stop": supporters.stop_command,
    "forget": supporters.forget_command,
    "privacy": supporters.privacy,
    "help": supporters.help_command,
}
MENU = [
    ("act", "The current call to action"),
    ("facts", "The latest findings with sources"),
    ("settings", "Language, topics, reminders"),
    ("privacy", "What we keep and why"),
    ("stop", "Unsubscribe"),
    ("forget", "Delete everything about you"),
    ("help", "Help"),
]


ExtraHandlers = Callable[[AnyApplication], None]
OUTAGE_KEY = "database_outage"
LAST_GROUP = 1000  # after every handler: notes updates handled without a database error


def build_application(
    token: str,
    api_root: str,
    app_services: BotServices,
    *,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    extra: Sequence[ExtraHandlers] = (),
) -> AnyApplication:
    """Create the Application talking to ``api_root`` (the official server or a local one)."""
    root = api_root.rstrip("/")
    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
    )
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    application = builder.build()
    application.bot_data[SERVICES_KEY] = app_services
    register_handlers(application)
    for register in extra:
        register(application)
    register_fallbacks(application)
    return application


def register_handlers(application: AnyApplication) -> None:
    """Register the supporter and staff commands and the settings buttons."""
    application.add_handler(TypeHandler(Update, _chatless_button), group=-1)
    commands: dict[str, Handler] = {
        **SUPPORTER_COMMANDS,
        **staff.COMMANDS,
        "broadcast": broadcasting.broadcast,
        "cancelbroadcast": broadcasting.cancel_command,
        "dashboard": dashboard.dashboard,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(onboarding.consent_given, pattern=r"^c:ok$"))
    application.add_handler(
        CallbackQueryHandler(broadcasting.confirmed, pattern=broadcasting.PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(supporters.forget_answer, pattern=r"^x:(yes|no)$")
    )
    application.add_handler(CallbackQueryHandler(onboarding.button, pattern=r"^[ltfdhzs]:"))
    application.add_handler(
        ChatMemberHandler(supporters.chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.bot_data[OUTAGE_KEY] = OutageReporter("telegram updates")
    application.bot_data[OUTAGE_KEY + ":failed"] = set()
    application.add_handler(TypeHandler(Update, _handled), group=LAST_GROUP)
    application.add_error_handler(_error)


def register_fallbacks(application: AnyApplication) -> None:
    """Last in line: typed text, anything else in private chats, and buttons nobody handles."""
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, _text))
    application.add_handler(MessageHandler(PRIVATE, supporters.unknown))
    application.add_handler(CallbackQueryHandler(_expired))


async def _text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await onboarding.typed_text(update, context):
        await supporters.unknown(update, context)


async def _chatless_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a press on a message we cannot see (inline, or too old): no handler needs it."""
    query = update.callback_query
    if query is not None and update.effective_chat is None:
        app = services(context)
        await query.answer(app.translate(supporters.user_lang(app, update), "expired"))
        raise ApplicationHandlerStop


async def _expired(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    app = services(context)
    await query.answer(app.translate(supporters.user_lang(app, update), "expired"))


async def _error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update and carry on: one odd update must never stop the bot."""
    outage: OutageReporter = context.bot_data[OUTAGE_KEY]
    if context.error is not None and outage.failed(context.error):
        context.bot_data[OUTAGE_KEY + ":failed"].add(id(update))
        return  # reported once per outage, not once per update
    log.error("error while handling an update: %s", context.error, exc_info=context.error)


async def _handled(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An update went through every handler: unless the database failed it, it is back."""
    failed: set[int] = context.bot_data[OUTAGE_KEY + ":failed"]
    if id(update) in failed:
        failed.discard(id(update))
    else:
        outage: OutageReporter = context.bot_data[OUTAGE_KEY]
        outage.succeeded()


async def start(
    application: AnyApplication,
    *,
    webhook_url: str = "",
    secret: str = "",
    listen: str = "0.0.0.0",
    port: int = 8080,
    own_server: bool = False,
    menus: bool = True,
) -> None:
    """Start receiving updates: long polling, or a webhook that checks Telegram's secret.

    With ``own_server`` the webhook route is the process's HTTP server's (``receiver``):
    only the webhook is registered with Telegram. If starting fails, everything opened so far
    is closed again before the error is raised. With ``menus`` false the caller publishes the
    command menus itself (``set_menus``).
    """
    try:
        if own_server and webhook_url:
            await application.initialize()
            if menus:
                await set_menus(application)
            await application.bot.set_webhook(
                webhook_url, secret_token=secret or None, allowed_updates=Update.ALL_TYPES
            )
            await application.start()
        else:
            await _start(application, webhook_url, secret, listen, port, menus)
    except InvalidToken:
        await stop(application)
        # PTB's message quotes the token: "The token `…` was rejected by the server."
        raise InvalidToken("Telegram rejected the bot token (TELEGRAM_BOT_TOKEN)") from None
    except BaseException:
        await stop(application)
        raise


async def _start(
    application: AnyApplication, webhook_url: str, secret: str, listen: str, port: int, menus: bool
) -> None:
    await application.initialize()
    if menus:
        await set_menus(application)
    assert application.updater is not None
    if webhook_url:
        path = urlsplit(webhook_url).path.lstrip("/")
        # PTB's webhook server answers 403 when X-Telegram-Bot-Api-Secret-Token is wrong.
        await application.updater.start_webhook(
            listen=listen,
            port=port,
            url_path=path,
            webhook_url=webhook_url,
            secret_token=secret or None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        # Short polls: one must end well within the poller duty's lease (bot.delivery.replicas).
        await application.updater.start_polling(
            allowed_updates=Update.ALL_TYPES, timeout=timedelta(seconds=POLL_TIMEOUT)
        )
    await application.start()


async def set_menus(application: AnyApplication) -> None:
    """Publish the command menu, with descriptions in each campaign language."""
    app: BotServices = application.bot_data[SERVICES_KEY]
    for lang in app.settings.campaign.languages:
        commands = [BotCommand(name, app.translate(lang, text)) for name, text in MENU]
        await application.bot.set_my_commands(commands, language_code=lang)
    default = app.settings.campaign.default_language
    commands = [BotCommand(name, app.translate(default, text)) for name, text in MENU]
    await application.bot.set_my_commands(commands)


async def stop(application: AnyApplication) -> None:
    """Stop receiving updates and close connections (also after a failed start)."""
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
    await application.bot.shutdown()  # its connections, when initialize() failed half-way


def receiver(application: AnyApplication) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The webhook route's hand-over: turn an update's JSON into an Update on PTB's queue."""

    async def put(data: dict[str, Any]) -> None:
        update = Update.de_json(data, application.bot)
        if update is not None:
            await application.update_queue.put(update)

    return put
