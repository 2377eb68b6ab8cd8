"""Campaign bot: sourced advocacy posts, scheduled to Telegram, X, Mastodon and Bluesky."""

__version__ = "0.1.0"
