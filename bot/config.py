"""Load and validate the campaign configuration and settings; the only reader of os.environ."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

LANGUAGES = {"en": "English", "ar": "Arabic", "ckb": "Sorani Kurdish"}
RTL_LANGUAGES = frozenset({"ar", "ckb"})
CHANNEL_NAMES = ("console", "telegram", "x", "mastodon", "bluesky")
DEFAULT_CONFIG = "config/campaign.yaml"
# Telegram's limit for free broadcasts; above it messages must be paid broadcasts.
FREE_BROADCAST_RATE = 30.0
# A rule firing more often than this would flood its channels.
MIN_RULE_INTERVAL = timedelta(minutes=1)


class ConfigError(Exception):
    """A configuration problem a person must fix; exit code 2."""


# Environment settings: name -> (default, help). The README lists every one (a test checks it).
SETTINGS: dict[str, tuple[str, str]] = {
    "CAMPAIGN_CONFIG": (DEFAULT_CONFIG, "Path of the campaign YAML file (same as --config)."),
    "DATABASE_URL": (
        "",
        "SQLAlchemy URL of the database; empty: SQLite in DATA_DIR. "
        "Heroku's postgres:// is accepted.",
    ),
    "DATA_DIR": ("data", "Folder for the embedded SQLite database."),
    "LOG_LEVEL": ("INFO", "Log level: DEBUG, INFO, WARNING, ERROR."),
    "TELEGRAM_BOT_TOKEN": ("", "Bot token from @BotFather; enables Telegram."),
    "TELEGRAM_CHANNEL_ID": ("", "Channel or group to publish to: @name or -100... id."),
    "TELEGRAM_BOT_USERNAME": (
        "",
        "The bot's @username without the @, for sign-up links and QR codes when no "
        "TELEGRAM_BOT_TOKEN is set (with a token, Telegram's getMe says it).",
    ),
    "TELEGRAM_API_BASE_URL": (
        "https://api.telegram.org",
        "Root of the Bot API server (for a self-hosted Bot API server).",
    ),
    "TELEGRAM_WEBHOOK_URL": ("", "Public HTTPS URL for webhook mode; empty: long polling."),
    "TELEGRAM_WEBHOOK_SECRET": ("", "Secret token Telegram sends with each webhook call."),
    "PORT": ("8080", "Port of the HTTP server: dashboard, webhook, /healthz, /metrics."),
    "HOST": ("127.0.0.1", "Address the HTTP server listens on; 0.0.0.0 on a platform."),
    "DASHBOARD_URL": (
        "",
        "Public base URL of the dashboard, for sign-in links; empty: http://HOST:PORT.",
    ),
    "X_CONSUMER_KEY": ("", "X API key (OAuth 1.0a)."),
    "X_CONSUMER_SECRET": ("", "X API key secret."),
    "X_ACCESS_TOKEN": ("", "X access token with read and write permission."),
    "X_ACCESS_TOKEN_SECRET": ("", "X access token secret."),
    "MASTODON_API_BASE_URL": ("", "Mastodon instance URL, e.g. https://mastodon.social."),
    "MASTODON_ACCESS_TOKEN": ("", "Mastodon access token with write:statuses."),
    "BLUESKY_HANDLE": ("", "Bluesky handle, e.g. campaign.bsky.social."),
    "BLUESKY_APP_PASSWORD": ("", "Bluesky app password (not the account password)."),
    "BLUESKY_BASE_URL": ("", "XRPC base URL of the PDS; empty: Bluesky's default."),
}

# The environment variables each channel needs before it can publish.
CHANNEL_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "console": (),
    "telegram": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID"),
    "x": ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"),
    "mastodon": ("MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"),
    "bluesky": ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD"),
}

# The credentials each account of a network has of its own; named accounts read them with the
# account's name as a suffix (X_CONSUMER_KEY__KURDISH). The rest (the bot token) serve all.
ACCOUNT_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "console": (),
    "telegram": ("TELEGRAM_CHANNEL_ID",),
    "x": CHANNEL_CREDENTIALS["x"],
    "mastodon": CHANNEL_CREDENTIALS["mastodon"],
    "bluesky": CHANNEL_CREDENTIALS["bluesky"],
}
ACCOUNT_SUFFIX = "__"

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    """Parse a duration such as ``15m``, ``2h`` or ``14d``."""
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"expected a duration like 30s, 15m, 2h or 14d, got {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; expected an IANA name such as Asia/Baghdad"
        ) from None
    return value


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"unknown language {value!r}; expected one of {', '.join(LANGUAGES)}")
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _hhmm(value: str) -> str:
    try:
        time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected a time HH:MM, got {value!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(_zone)]
Language = Annotated[str, AfterValidator(_language)]
Duration = Annotated[str, AfterValidator(_duration)]
ClockTime = Annotated[str, AfterValidator(_hhmm)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _problems_at(title: str, problems: list[tuple[tuple[str | int, ...], str, Any]]) -> None:
    """Raise the problems found by a model validator, each at its own key path."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("config", "{message}", {"message": message}),
                    loc=loc,
                    input=value,
                )
                for loc, message, value in problems
            ],
        )


class Campaign(_Strict):
    name: str
    description: str = ""
    default_language: Language = "en"
    languages: list[Language] = Field(default_factory=lambda: ["en", "ar", "ckb"], min_length=1)
    time_zone: TimeZone = "Asia/Baghdad"
    hashtags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _default_enabled(self) -> Campaign:
        if self.default_language not in self.languages:
            _problems_at(
                "Campaign",
                [
                    (
                        ("default_language",),
                        f"not one of the campaign's languages; expected one of "
                        f"{', '.join(self.languages)}",
                        self.default_language,
                    )
                ],
            )
        return self


_ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")


def _account_name(value: str) -> str:
    if not _ACCOUNT_NAME.fullmatch(value):
        raise ValueError(
            "an account name is a lowercase letter, then lowercase letters, digits and _ "
            "(up to 30 in all), e.g. kurdish"
        )
    return value


# An account's name: also the suffix of its credentials, X_CONSUMER_KEY__KURDISH for kurdish.
AccountName = Annotated[str, AfterValidator(_account_name)]


class AccountOptions(_Strict):
    """One account of a network (a Telegram channel, an X account) and its languages."""

    languages: list[Language] = Field(min_length=1)
    enabled: bool = True
    max_posts_per_day: int | None = Field(default=None, ge=0)  # x: this account's own cap


class ChannelOptions(_Strict):
    enabled: bool = True
    languages: list[Language] | None = None
    # Several accounts, each with its languages; none: one account with the plain credentials.
    accounts: dict[AccountName, AccountOptions] = Field(default_factory=dict)
    link_preview: bool = False  # telegram
    threads: bool = False  # x: split a long item into a reply chain
    max_posts_per_day: int = Field(default=10, ge=0)  # x: X charges per post
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"  # mastodon
    max_characters: int | None = Field(default=None, ge=1)  # override the channel's limit
    signup_button: bool = False  # telegram: a "Get reminders" button under each post

    @model_validator(mode="after")
    def _languages_or_accounts(self) -> ChannelOptions:
        if self.languages is not None and self.accounts:
            _problems_at(
                "ChannelOptions",
                [
                    (
                        ("languages",),
                        "a network with accounts takes its languages from them; move these "
                        "under each account's languages: and delete this line",
                        self.languages,
                    )
                ],
            )
        return self


class Blackout(_Strict):
    start: datetime
    end: datetime
    reason: str = ""

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("expected a time with a zone, e.g. 2017-07-11T09:00:00+03:00")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ends_after_start(self) -> Blackout:
        if self.end <= self.start:
            _problems_at(
                "Blackout",
                [
                    (
                        ("end",),
                        f"the blackout ends before it starts ({self.start.isoformat()}); "
                        "expected an end after the start",
                        self.end,
                    )
                ],
            )
        return self


class Pick(_Strict):
    kinds: list[Literal["finding", "demand", "action", "update"]] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list)


class Rule(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    cron: str | None = None
    every: Duration | None = None
    at: datetime | None = None
    time_zone: TimeZone | None = None
    channels: list[str] = Field(min_length=1)
    languages: list[Language] | None = None
    pick: Pick = Field(default_factory=Pick)
    start: datetime | None = None
    end: datetime | None = None
    max_count: int | None = Field(default=None, ge=1)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Imported here: the triggers module imports this one.
        from bot.schedule.triggers import make_trigger

        expected = (
            "expected 5 fields: minute (0-59) hour (0-23) day (1-31) month (1-12) "
            "weekday (0-7, 0 or 7 = Sunday), e.g. '0 9 * * *' for 09:00 every day"
        )
        fields = len(value.split())
        if fields != 5:
            raise ValueError(f"not a crontab schedule ({fields} fields); {expected}")
        try:
            make_trigger(Rule.model_construct(id="cron", channels=[], cron=value), "UTC")
        except (ValueError, TypeError, LookupError) as exc:
            reason = str(exc)
            if reason.startswith("invalid literal"):
                reason = "the weekday must be 0-7 or a name like mon"
            raise ValueError(f"not a crontab schedule ({reason}); {expected}") from None
        return value

    @field_validator("every")
    @classmethod
    def _not_too_often(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) < MIN_RULE_INTERVAL:
            raise ValueError("a rule may fire at most once a minute; expected at least 1m")
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> Rule:
        given = [k for k in ("cron", "every", "at") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a rule needs exactly one of cron, every or at "
                f"(got {' and '.join(given) if given else 'none'})"
            )
        _problems_at(
            "Rule",
            [
                ((key,), "expected a time with a zone, e.g. 2026-12-01T09:00+03:00", value)
                for key in ("at", "start", "end")
                if (value := getattr(self, key)) is not None and value.tzinfo is None
            ],
        )
        return self


class Schedule(_Strict):
    misfire_grace: Duration = "15m"
    rotation_window: Duration = "14d"
    topic_weights: dict[str, float] = Field(default_factory=dict)
    blackouts: list[Blackout] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> Schedule:
        first: dict[str, int] = {}
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        for index, rule in enumerate(self.rules):
            if rule.id in first:
                problems.append(
                    (
                        ("rules", index, "id"),
                        f"duplicate rule id (also schedule.rules.{first[rule.id]}.id); "
                        "expected each rule to have its own id",
                        rule.id,
                    )
                )
            first.setdefault(rule.id, index)
        _problems_at("Schedule", problems)
        return self


class Reminders(_Strict):
    default_time: ClockTime = "18:00"
    quiet_start: ClockTime = "22:00"
    quiet_end: ClockTime = "08:00"
    every: Duration = "1m"


class Broadcast(_Strict):
    rate: float = Field(default=25.0, gt=0, le=1000)
    paid: bool = False

    @model_validator(mode="after")
    def _free_rate(self) -> Broadcast:
        if self.rate > FREE_BROADCAST_RATE and not self.paid:
            _problems_at(
                "Broadcast",
                [
                    (
                        ("rate",),
                        f"Telegram allows at most {FREE_BROADCAST_RATE:g} messages/s for free; "
                        "set broadcast.paid: true (0.1 Star per message) or lower the rate "
                        f"to {FREE_BROADCAST_RATE:g} or less",
                        self.rate,
                    )
                ],
            )
        return self


_SIGNUP_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _signup_code(value: str) -> str:
    if not _SIGNUP_CODE.fullmatch(value):
        raise ValueError(
            "a sign-up code is 1 to 64 of A-Z, a-z, 0-9, _ and - (Telegram's rule for "
            "/start payloads), e.g. erbil-poster"
        )
    return value


class SignupLink(_Strict):
    """A named deep link t.me/<bot>?start=<code> that presets language and topics."""

    code: Annotated[str, AfterValidator(_signup_code)]
    language: Language | None = None
    topics: list[str] = Field(default_factory=list)
    where: str = ""  # where it was handed out, e.g. "a poster in Erbil"


class Settings(_Strict):
    """The validated campaign configuration."""

    campaign: Campaign
    library: str = "../messages"
    publish_unreviewed: bool = False
    staff: list[int] = Field(default_factory=list)
    approvals_required: int = Field(default=0, ge=0, le=1)
    channels: dict[str, ChannelOptions] = Field(default_factory=dict)
    schedule: Schedule = Field(default_factory=Schedule)
    reminders: Reminders = Field(default_factory=Reminders)
    broadcast: Broadcast = Field(default_factory=Broadcast)
    signup_links: list[SignupLink] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: dict[str, ChannelOptions]) -> dict[str, ChannelOptions]:
        for name, options in value.items():
            if name not in CHANNEL_NAMES:
                raise ValueError(
                    f"unknown channel {name!r}; expected one of {', '.join(CHANNEL_NAMES)}"
                )
            if name == "console" and options.accounts:
                raise ValueError("the console channel has no accounts; remove console.accounts")
        return value

    @model_validator(mode="after")
    def _rules_use_known_channels(self) -> Settings:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        known = ", ".join(self.channels) or "none"
        for index, rule in enumerate(self.schedule.rules):
            found = len(problems)
            for name in rule.channels:
                if ":" in name and name.partition(":")[0] in self.channels:
                    if (problem := self.unknown_account(name)) is not None:
                        problems.append((("schedule", "rules", index, "channels"), problem, name))
                elif name not in self.channels:
                    problems.append(
                        (
                            ("schedule", "rules", index, "channels"),
                            f"rule {rule.id!r} names channel {name!r}, which is not under "
                            f"channels; expected one of {known} (or add it under channels)",
                            name,
                        )
                    )
            if len(problems) == found and not self._carried(rule.channels, rule.languages):
                wanted = ", ".join(rule.languages or self.campaign.languages)
                problems.append(
                    (
                        ("schedule", "rules", index, "channels"),
                        f"rule {rule.id!r} publishes {wanted}, but no account of "
                        f"{', '.join(rule.channels)} carries any of them; expected an account "
                        "with one of these languages",
                        rule.channels,
                    )
                )
        _problems_at("Settings", problems)
        return self

    @model_validator(mode="after")
    def _signup_links_fit(self) -> Settings:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        first: dict[str, int] = {}
        for index, link in enumerate(self.signup_links):
            if link.code in first:
                problems.append(
                    (
                        ("signup_links", index, "code"),
                        f"duplicate code (also signup_links.{first[link.code]}.code); "
                        "expected each link to have its own code",
                        link.code,
                    )
                )
            first.setdefault(link.code, index)
            if link.language is not None and link.language not in self.campaign.languages:
                problems.append(
                    (
                        ("signup_links", index, "language"),
                        "not one of the campaign's languages; expected one of "
                        + ", ".join(self.campaign.languages),
                        link.language,
                    )
                )
        _problems_at("Settings", problems)
        return self

    def signup_link(self, code: str) -> SignupLink | None:
        """The configured sign-up link with this code, if any."""
        return next((link for link in self.signup_links if link.code == code), None)

    def _carried(self, targets: list[str], languages: list[str] | None) -> bool:
        """Tell whether any of ``targets`` carries one of ``languages`` (all: the campaign's)."""
        wanted = set(languages or self.campaign.languages)
        for target in targets:
            network, _, account = target.partition(":")
            opts = self.channels.get(network)
            if opts is None:
                continue
            if account:
                carried = set(opts.accounts[account].languages)
            else:
                carried = set(self.channel_languages(network))
            if carried & wanted:
                return True
        return False

    @property
    def enabled_channels(self) -> list[str]:
        return [name for name, opts in self.channels.items() if opts.enabled]

    def channel_languages(self, channel: str) -> list[str]:
        opts = self.channels.get(channel)
        if opts and opts.accounts:
            carried = {lang for account in opts.accounts.values() for lang in account.languages}
            return [lang for lang in self.campaign.languages if lang in carried]
        return list(opts.languages) if opts and opts.languages else list(self.campaign.languages)

    def unknown_account(self, target: str) -> str | None:
        """Say what is wrong with a ``network:account`` target, or return None."""
        network, _, account = target.partition(":")
        opts = self.channels.get(network)
        names = list(opts.accounts) if opts else []
        if account in names:
            return None
        listed = ", ".join(f"{network}:{name}" for name in names)
        return (
            f"unknown account {target!r}; expected one of {listed}"
            if names
            else f"{network} has no named accounts; name {network!r}, or add "
            f"channels.{network}.accounts"
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.campaign.time_zone)

    def threads_long_posts(self, channel: str) -> bool:
        """Whether a post too long for ``channel`` goes out as a reply chain (X, ``threads``)."""
        options = self.channels.get(channel)
        return channel == "x" and options is not None and options.threads


@dataclass(frozen=True)
class LoadedConfig:
    """Settings together with where they came from."""

    settings: Settings
    path: Path

    @property
    def library_dir(self) -> Path:
        return (self.path.parent / self.settings.library).resolve()


# Pydantic's wording for common mistakes, said the way the rest of our errors say it.
_MESSAGES: dict[str, str] = {
    "extra_forbidden": "unknown key; check the spelling (see README, Configuration)",
    "missing": "required key is missing",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text (put it in quotes)",
    "list_type": "expected a list, e.g. [a, b]",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
    "datetime_parsing": "expected a time with a zone, e.g. 2026-12-01T09:00:00+03:00",
    "datetime_from_date_parsing": "expected a time with a zone, e.g. 2026-12-01T09:00:00+03:00",
    "datetime_type": "expected a time with a zone, e.g. 2026-12-01T09:00:00+03:00",
    "string_pattern_mismatch": "expected lowercase letters, digits and hyphens, e.g. daily-post",
}
_BOUNDS = {
    "greater_than": "expected more than {gt}",
    "greater_than_equal": "expected at least {ge}",
    "less_than": "expected less than {lt}",
    "less_than_equal": "expected at most {le}",
    "too_short": "expected at least {min_length} {entries}",
    "too_long": "expected at most {max_length} {entries}",
}


def show_value(value: Any) -> str:
    """Return a value as a person wrote it in YAML, not as a Python repr."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return str(value)


def _message(problem: Any) -> str:
    kind = problem["type"]
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind in _BOUNDS:
        ctx = {k: show_value(v) for k, v in (problem.get("ctx") or {}).items()}
        ctx["entries"] = (
            "entry" if "1" in (ctx.get("min_length"), ctx.get("max_length")) else "entries"
        )
        try:
            return _BOUNDS[kind].format(**ctx)
        except KeyError:
            pass
    message: str = problem["msg"].removeprefix("Value error, ")
    return message.replace("Input should be", "expected")


def _format_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = _message(problem)
        value = problem.get("input")
        shown = show_value(value)
        repeated = f"got {shown}" in message or (isinstance(value, str) and shown in message)
        if problem["type"] == "missing" or isinstance(value, dict) or repeated:
            lines.append(f"  {where}: {message}")
        else:
            lines.append(f"  {where}: {message} (got {shown})")
    return "\n".join(lines)


def load_config(path: str | Path | None = None) -> LoadedConfig:
    """Read and validate the campaign YAML; raise ConfigError with file, key and value."""
    chosen = Path(path or env("CAMPAIGN_CONFIG"))
    try:
        raw: Any = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{chosen}: configuration file not found; pass --config PATH or set CAMPAIGN_CONFIG"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{chosen}: is a folder, expected the campaign YAML file "
            f"(e.g. {chosen / 'campaign.yaml'}); pass --config PATH or set CAMPAIGN_CONFIG"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{chosen}: cannot read the configuration file: {reason}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{chosen}: expected a mapping of settings at the top level")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(chosen, exc)) from None
    loaded = LoadedConfig(settings=settings, path=chosen.resolve())
    if not loaded.library_dir.is_dir():
        raise ConfigError(
            f"{chosen}: library: the message library folder {loaded.library_dir} does not exist "
            f"(got {settings.library!r}); expected a folder of *.yaml items, relative to "
            "this file, e.g. ../messages"
        )
    return loaded


_dotenv_cache: dict[Path, dict[str, str | None]] = {}


def _dotenv() -> dict[str, str | None]:
    here = Path.cwd()
    if here not in _dotenv_cache:
        path = here / ".env"
        _dotenv_cache[here] = dotenv_values(path) if path.is_file() else {}
    return _dotenv_cache[here]


def env(name: str) -> str:
    """Return an environment setting: the process environment, then ``.env``, then its default."""
    if name not in SETTINGS:
        raise KeyError(f"unknown setting {name}")
    value = os.environ.get(name)
    if value is None:
        value = _dotenv().get(name)
    return value if value else SETTINGS[name][0]


def http_port() -> int:
    """The HTTP server's port from PORT; raise ConfigError when it is not one."""
    value = env("PORT").strip()
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError(f"PORT={value!r}: expected a port number from 0 to 65535, e.g. 8080")
    return int(value)


def dashboard_url() -> str:
    """The dashboard's public base URL, without a trailing slash; raise ConfigError when
    DASHBOARD_URL is set but is not an http(s)://host address."""
    url = env("DASHBOARD_URL").strip().rstrip("/")
    if not url:
        return f"http://{env('HOST')}:{http_port()}"
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != -1
    except ValueError:  # e.g. a port that is not a number
        valid = False
    if not valid:
        raise ConfigError(
            f"DASHBOARD_URL={url!r}: expected the dashboard's address, "
            "http(s)://host, e.g. https://bot.example.org"
        )
    return url


def credential_name(name: str, account: str = "") -> str:
    """Return the variable holding a credential of one account: NAME__ACCOUNT, or NAME."""
    return f"{name}{ACCOUNT_SUFFIX}{account.upper()}" if account else name


def account_env(name: str, account: str = "") -> str:
    """Return a setting for one account of a network.

    A named account reads ``NAME__ACCOUNT``; a credential of its own never falls back to the
    plain ``NAME`` (two accounts must not post as one), a shared setting such as the bot token
    or ``BLUESKY_BASE_URL`` does.
    """
    if not account:
        return env(name)
    if name not in SETTINGS:
        raise KeyError(f"unknown setting {name}")
    full = credential_name(name, account)
    value = os.environ.get(full)
    if value is None:
        value = _dotenv().get(full)
    if value:
        return value
    own = {n for names in ACCOUNT_CREDENTIALS.values() for n in names}
    return "" if name in own else env(name)


def missing_credentials(channel: str, account: str = "") -> list[str]:
    """Return the environment variables a channel (or one account of it) needs that are not set.

    ``channel`` may name the account itself, as ``x:kurdish``.
    """
    channel, _, named = channel.partition(":")
    account = account or named
    own = ACCOUNT_CREDENTIALS[channel]
    return [
        credential_name(name, account if name in own else "")
        for name in CHANNEL_CREDENTIALS[channel]
        if not account_env(name, account if name in own else "")
    ]


def has_any_credentials(channels: list[str]) -> bool:
    """Tell whether any publishing channel (``x``, or an account ``x:kurdish``) has at least one
    credential set."""
    for target in channels:
        network, _, account = target.partition(":")
        own = ACCOUNT_CREDENTIALS[network]
        names = CHANNEL_CREDENTIALS[network]
        if any(account_env(name, account if name in own else "") for name in names):
            return True
    return False


def database_url() -> str:
    """Return the SQLAlchemy URL: DATABASE_URL (postgres:// accepted) or SQLite in DATA_DIR."""
    url = env("DATABASE_URL")
    if not url:
        folder = Path(env("DATA_DIR"))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"DATA_DIR={folder}: cannot create the data folder for the SQLite database "
                f"({exc.strerror or exc}); set DATA_DIR to a writable folder, or DATABASE_URL"
            ) from None
        return f"sqlite:///{folder / 'campaign.sqlite3'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def prefer_ptb_timedelta() -> None:
    """Opt in to python-telegram-bot's timedelta durations (``RetryAfter.retry_after``), which
    v22 otherwise warns about on every flood-control error. An explicit setting is kept."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")


def secret_values() -> list[str]:
    """Return every secret currently set, so logs and errors can redact them."""
    names = [n for n in SETTINGS if re.search(r"TOKEN|SECRET|PASSWORD|KEY", n)]
    values = [env(n) for n in names]
    # Named accounts' own credentials (X_ACCESS_TOKEN__KURDISH) are secrets too.
    for source in (os.environ, _dotenv()):
        for key, value in source.items():
            base, sep, _ = key.partition(ACCOUNT_SUFFIX)
            if sep and base in names and value:
                values.append(value)
    return [v for v in dict.fromkeys(values) if v and len(v) >= 6]
