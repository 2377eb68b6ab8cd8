"""A whole run of the bot at DEBUG, errors included, never writes the bot token to the log."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.telegram.redaction import REDACTED, install_token_redaction, remove_token_redaction
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    STAFF_A,
    TOKEN,
    fake_api_fixture,
    ptb_timedelta_fixture,
    start_running,
    stop_running,
    telegram_campaign,
    transport_fixture,
)

VERBOSE = ("", "telegram", "httpx", "httpcore", "aiohttp", "apscheduler", "bot", "asyncio")
USER = 5551


@pytest.fixture(name="debug_log")
def debug_log_fixture() -> Iterator[io.StringIO]:
    """Every logger at DEBUG into a StringIO, as ``campaign-bot run`` configures it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in VERBOSE}
    root.addHandler(handler)
    token_filter = install_token_redaction(TOKEN)
    # The redaction quiets httpx; turn everything back up to show the filter does the work.
    for name in VERBOSE:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    remove_token_redaction(token_filter)
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def test_a_debug_run_with_errors_logs_no_token(
    debug_log: io.StringIO,
    fake_api: FakeBotAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = telegram_campaign(tmp_path / "campaign")
    running = await start_running(
        fake_api, campaign, f"sqlite:///{tmp_path / 'bot.sqlite3'}", monkeypatch
    )
    driver = running.driver
    try:
        await driver.send(USER, "/start", lang="ar")
        await driver.press(USER, "c:ok", lang="ar")
        await driver.send(STAFF_A, "/post f-attacks telegram")
        fake_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        await running.tick()
        await running.tick(seconds=1)
        fake_api.fail_next("editMessageText", 502, "Bad Gateway")  # a handler fails
        await driver.press(USER, "l:ar:o", lang="ar")
        fake_api.fail_next("getUpdates", 502, "Bad Gateway")  # polling fails once
        fake_api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
        await driver.send(USER, "/help")  # the reply is refused
        await driver.settle()
    finally:
        await stop_running(running)

    log = debug_log.getvalue()
    assert "Calling Bot API endpoint `getUpdates`" in log  # PTB's DEBUG lines are there
    assert "error while handling an update" in log  # and the errors, with tracebacks
    assert "Traceback" in log
    assert len(running.channel_posts()) == 1
    for form in (TOKEN, quote(TOKEN, safe=""), TOKEN.split(":")[1]):
        assert form not in log
    assert REDACTED in log  # URLs were logged, without the token


def test_handlers_and_loggers_added_later_see_no_token() -> None:
    token_filter = install_token_redaction(TOKEN)
    stream = io.StringIO()
    late = logging.getLogger("late.library.module")
    late.addHandler(logging.StreamHandler(stream))
    late.propagate = False
    try:
        late.warning("POST https://api.telegram.org/bot%s/getMe failed", TOKEN)
        try:
            raise RuntimeError(f"boom at /bot{TOKEN}/sendMessage")
        except RuntimeError:
            late.exception("request failed")
    finally:
        remove_token_redaction(token_filter)
        late.handlers.clear()
    assert logging.getLogRecordFactory() != token_filter.make_record  # undone
    text = stream.getvalue()
    assert TOKEN not in text
    assert "api.telegram.org/[REDACTED]/getMe" in text and "boom at /[REDACTED]/" in text
