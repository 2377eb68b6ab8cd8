"""What the Telegram handlers need, handed over once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import ContextTypes

from bot.clock import Clock
from bot.config import Settings
from bot.library import Item, Library
from bot.render import Renderer
from bot.staff_list import StaffList
from bot.store import Store
from bot.telegram.i18n import Translator

SERVICES_KEY = "campaign"


@dataclass
class BotServices:
    """Configuration, content, storage and strings shared by every handler."""

    settings: Settings
    library: Library
    renderer: Renderer
    store: Store
    clock: Clock
    translate: Translator
    # Called after a supporter's reminder settings change (reminders recompute their next time).
    on_settings_changed: Callable[[int], None] | None = field(default=None)
    # More lines for /stats (broadcast progress, for example).
    extra_stats: list[Callable[[], list[str]]] = field(default_factory=list)
    # The staff list re-read from the config file when it changes; None: settings.staff.
    staff_list: StaffList | None = None

    def publishable(self, item: Item, lang: str) -> bool:
        return item.publishable(lang, self.settings.publish_unreviewed)

    def is_staff(self, user_id: int | None) -> bool:
        staff = self.staff_list if self.staff_list is not None else self.settings.staff
        return user_id is not None and user_id in staff

    @property
    def topics(self) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.library.items.values():
            seen.update(dict.fromkeys(item.topics))
        return list(seen)


def services(context: ContextTypes.DEFAULT_TYPE) -> BotServices:
    value: Any = context.bot_data[SERVICES_KEY]
    assert isinstance(value, BotServices)
    return value
