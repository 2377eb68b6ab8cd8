"""Sign-up links: deep links that preset language and topics, and their QR codes."""

from bot.links.deep_links import (
    USERNAME_PATTERN,
    LinkPreset,
    bot_link,
    link_for_language,
    preset_for,
    signup_url,
    valid_username,
)
from bot.links.qr import QrFiles, write_qr_codes

__all__ = [
    "USERNAME_PATTERN",
    "LinkPreset",
    "QrFiles",
    "bot_link",
    "link_for_language",
    "preset_for",
    "signup_url",
    "valid_username",
    "write_qr_codes",
]
