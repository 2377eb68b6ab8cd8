"""Telegram: the supporter and staff conversation, and the Bot API transport."""
