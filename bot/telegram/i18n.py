"""The bot's interface strings per language, from gettext catalogues, with English as fallback."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

LOCALES = Path(__file__).with_name("locales")
LANGUAGE_NAMES = {"en": "English", "ar": "العربية", "ckb": "کوردی"}
TOPIC_NAMES = {
    "weapons": "Explosive weapons (IRAMs)",
    "aid": "Humanitarian aid",
    "acknowledge": "Acknowledge the civilian toll",
    "justice": "Justice and reparation",
    "children": "Children",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Translator:
    """Looks strings up per language; entries flagged fuzzy (unreviewed) are used as well."""

    def __init__(self, folder: Path = LOCALES) -> None:
        self.catalogs: dict[str, Catalog] = {}
        for path in sorted(folder.glob("*/LC_MESSAGES/bot.po")):
            with path.open("rb") as handle:
                self.catalogs[path.parent.parent.name] = read_po(handle)

    def __call__(self, lang: str, msgid: str, **values: object) -> str:
        text = self._lookup(lang, msgid) or self._lookup("en", msgid) or msgid
        return text.format(**values) if values else text

    def _lookup(self, lang: str, msgid: str) -> str | None:
        catalog = self.catalogs.get(lang)
        message = catalog.get(msgid) if catalog else None
        text = message.string if message is not None else None
        return text if isinstance(text, str) and text else None

    def topic(self, lang: str, topic: str) -> str:
        return self(lang, TOPIC_NAMES.get(topic, topic))
