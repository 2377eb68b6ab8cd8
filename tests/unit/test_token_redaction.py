"""The bot token never reaches the logs, even at DEBUG with a real Bot talking to the fake API."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from telegram.error import InvalidToken

from bot.telegram.redaction import (
    REDACTED,
    TokenRedactingFilter,
    install_token_redaction,
    remove_token_redaction,
)
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    make_bot,
    ptb_timedelta_fixture,
    transport_fixture,
)


@pytest.fixture
def redaction(caplog: pytest.LogCaptureFixture) -> Iterator[TokenRedactingFilter]:
    """Capture everything at DEBUG with the token filter installed; undo both afterwards."""
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    caplog.set_level(logging.DEBUG)
    token_filter = install_token_redaction(TOKEN)
    yield token_filter
    remove_token_redaction(token_filter)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


class LateURL:
    """An argument that only turns into text (with the token) when the record is formatted."""

    def __str__(self) -> str:
        return f"https://api.telegram.org/bot{TOKEN}/getMe"


async def test_debug_run_of_a_real_bot_logs_no_token(
    redaction: TokenRedactingFilter, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    # httpx logs each URL at INFO; force it back on to prove the filter, not the level, works.
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    async with FakeBotAPI() as fake, make_bot(fake, transport) as bot:
        await bot.send_message(777, "hello")

    assert "sendMessage" in caplog.text  # PTB's DEBUG lines were captured
    assert "Set Bot API URL" in caplog.text
    assert TOKEN not in caplog.text
    assert f"bot{REDACTED}" not in caplog.text and REDACTED in caplog.text
    if transport == "httpx":
        assert "HTTP Request: POST" in caplog.text


async def test_rejected_token_error_and_traceback_are_redacted(
    redaction: TokenRedactingFilter, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeBotAPI(token="1:OTHER") as fake:
        with pytest.raises(InvalidToken) as caught:
            async with make_bot(fake):
                pass
    assert TOKEN in str(caught.value)  # PTB puts the token in the message...
    logging.getLogger("telegram.ext.Application").error("start failed", exc_info=caught.value)

    assert "InvalidToken" in caplog.text and TOKEN not in caplog.text  # ...the log does not


def test_lazy_arguments_are_redacted_when_formatted(
    redaction: TokenRedactingFilter, caplog: pytest.LogCaptureFixture
) -> None:
    logging.getLogger("bot.anything").debug("calling %s", LateURL())
    logging.getLogger("apscheduler.executors").info("token=%s", TOKEN)

    assert [record.getMessage() for record in caplog.records] == [
        f"calling https://api.telegram.org/{REDACTED}/getMe",
        f"token={REDACTED}",
    ]


def test_install_quiets_httpx_and_is_idempotent(redaction: TokenRedactingFilter) -> None:
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING
    assert install_token_redaction(TOKEN) is redaction
    assert logging.getLogger("telegram").filters.count(redaction) == 1
