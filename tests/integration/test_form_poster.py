"""The fan-out's lean HTTP transport against scripted loopback servers: reuse, framing, faults."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import BaseRequest
from yarl import URL

from bot.channels.base import ErrorKind
from bot.delivery.private import RecipientError
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.form_poster import FormPoster
from bot.telegram.keepalive_connection import AnswerLost
from bot.telegram.private_sender import answer_result, build_private_sender, classify_recipient
from tests.fakes.scripted_http import Received, Reply, Script, ScriptedServer, answer, ok
from tests.fakes.telegram_fixtures import TOKEN, ptb_timedelta_fixture  # noqa: F401

PATH = f"/bot{TOKEN}/sendMessage"
BODY = b"chat_id=7&text=hello"


@asynccontextmanager
async def serving(
    script: Script,
    *,
    size: int = 8,
    acquire_timeout: float | None = 10.0,
    read_timeout: float | None = 10.0,
    server_tls: ssl.SSLContext | None = None,
    client_tls: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[ScriptedServer, FormPoster]]:
    """A scripted server, and a poster to it with generous timeouts unless given."""
    async with ScriptedServer(script, ssl_context=server_tls) as server:
        poster = FormPoster(
            URL(server.url(PATH)),
            size=size,
            acquire_timeout=acquire_timeout,
            read_timeout=read_timeout,
            ssl_context=client_tls,
        )
        try:
            yield server, poster
        finally:
            await poster.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop turn until ``condition`` holds (the client learns of a close this way)."""
    deadline = asyncio.get_running_loop().time() + 20
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def failure(poster: FormPoster) -> TelegramError:
    """The error a post raises; it never shows the token."""
    with pytest.raises(TelegramError) as caught:
        await poster.post(BODY)
    error = caught.value
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    assert TOKEN.split(":")[1] not in error.message
    return error


def kind(error: TelegramError) -> ErrorKind:
    return classify_recipient(error).kind


# -- keep-alive -----------------------------------------------------------------------------


async def test_one_connection_serves_many_requests_and_the_request_is_a_form_post() -> None:
    async with serving(lambda r: ok(len(r.body))) as (server, poster):
        for _ in range(20):
            status, payload = await poster.post(BODY)
            assert status == 200 and b'"message_id": 20' in payload
        assert server.accepted == 1 and poster.connections == 1
        first = server.received[0]
        assert first.request_line == f"POST {PATH} HTTP/1.1"
        assert first.header("Host") == f"127.0.0.1:{server.port}"
        assert first.header("User-Agent") == BaseRequest.USER_AGENT
        assert first.header("Content-Type") == "application/x-www-form-urlencoded"
        assert first.header("Content-Length") == str(len(BODY)) and first.body == BODY


async def test_concurrent_requests_open_at_most_the_pool_size_and_then_reuse_them() -> None:
    async with serving(lambda r: ok(), size=4) as (server, poster):
        answers = await asyncio.gather(*(poster.post(BODY) for _ in range(60)))
        assert {status for status, _ in answers} == {200}
        assert server.accepted <= 4 and len(server.received) == 60
        await asyncio.gather(*(poster.post(BODY) for _ in range(20)))
        assert server.accepted <= 4 and poster.connections <= 4


async def test_a_chunked_answer_in_pieces_is_read_whole_and_the_connection_kept() -> None:
    body = b'{"ok": true, "result": {"message_id": 42}}'
    chunked = b"%x\r\n%b\r\n%x\r\n%b\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    data = answer(body=chunked, headers=("Transfer-Encoding: chunked",), length=False)
    reply = Reply(data, split_at=(20, len(data) - 12))
    async with serving(lambda r: reply) as (server, poster):
        for _ in range(3):
            status, payload = await poster.post(BODY)
            assert answer_result(status, payload) == {"message_id": 42}
        assert server.accepted == 1


async def test_an_answer_that_ends_with_the_connection_is_read_whole() -> None:
    data = answer(body=b'{"ok": true, "result": {"message_id": 5}}', length=False)
    async with serving(lambda r: Reply(data, close=True)) as (server, poster):
        assert answer_result(*await poster.post(BODY)) == {"message_id": 5}
        assert answer_result(*await poster.post(BODY)) == {"message_id": 5}
        assert server.accepted == 2


async def test_a_connection_close_answer_is_used_and_the_next_request_opens_another() -> None:
    closing = answer(headers=("Connection: close",))
    async with serving(lambda r: Reply(closing, close=True)) as (server, poster):
        for _ in range(3):
            assert (await poster.post(BODY))[0] == 200
        assert server.accepted == 3 and poster.connections <= 1


async def test_an_idle_connection_the_server_closed_is_dropped_before_the_next_send() -> None:
    # The server answers, keeps nothing open after it (as an idle timeout would do).
    async with serving(lambda r: Reply(answer(), close=True)) as (server, poster):
        assert (await poster.post(BODY))[0] == 200
        await server.wait_for(lambda: server.closed == 1, "the server to close")
        await until(lambda: poster.idle == 0, "the client to drop the closed connection")
        assert poster.connections == 0
        assert (await poster.post(BODY))[0] == 200  # no error: it never met the dead one
        assert server.accepted == 2 and len(server.received) == 2


async def test_a_connection_idle_too_long_is_closed_instead_of_used() -> None:
    # A firewall may forget a connection idle for long without telling anyone: a request on it
    # would only time out. keep_idle=0: every idle connection is too old by the next request.
    async with ScriptedServer(lambda r: ok()) as server:
        poster = FormPoster(
            URL(server.url(PATH)), size=4, acquire_timeout=10, read_timeout=10, keep_idle=0
        )
        try:
            for _ in range(3):
                assert (await poster.post(BODY))[0] == 200
            assert server.accepted == 3 and poster.connections == 1
            await server.wait_for(lambda: server.closed == 2, "the old connections to end")
        finally:
            await poster.close()


async def test_closing_ends_every_connection_and_a_later_request_opens_a_new_one() -> None:
    async with serving(lambda r: ok(), size=2) as (server, poster):
        await asyncio.gather(poster.post(BODY), poster.post(BODY))
        await poster.close()
        await server.wait_for(lambda: server.closed == server.accepted, "the connections to end")
        assert poster.connections == 0
        assert (await poster.post(BODY))[0] == 200
        assert server.accepted == server.closed + 1


# -- failures after the request left: uncertain ---------------------------------------------


@pytest.mark.parametrize("abort", [False, True], ids=["closed", "reset"])
async def test_a_server_that_ends_the_connection_without_answering_leaves_it_uncertain(
    abort: bool,
) -> None:
    async with serving(lambda r: Reply(None, close=True, abort=abort)) as (server, poster):
        error = await failure(poster)
        assert isinstance(error, AnswerLost)
        assert kind(error) == ErrorKind.UNCERTAIN
        assert "may have delivered" in classify_recipient(error).reason
        assert len(server.received) == 1  # it did arrive
        assert poster.connections == 0


async def test_an_answer_that_is_not_http_leaves_it_uncertain() -> None:
    async with serving(lambda r: Reply(b"SMTP ready\r\n\r\n")) as (_, poster):
        error = await failure(poster)
        assert isinstance(error, AnswerLost) and kind(error) == ErrorKind.UNCERTAIN


async def test_an_answer_cut_short_leaves_it_uncertain() -> None:
    data = answer(body=b'{"ok": true, "result": {"message_id": 5}}')[:-5]
    async with serving(lambda r: Reply(data, close=True)) as (_, poster):
        error = await failure(poster)
        assert isinstance(error, AnswerLost) and kind(error) == ErrorKind.UNCERTAIN


async def test_no_answer_within_the_read_timeout_is_uncertain_and_frees_the_slot() -> None:
    script_calls = 0

    def script(received: Received) -> Reply:
        nonlocal script_calls
        script_calls += 1
        return Reply(None, hold=True) if script_calls == 1 else ok()

    async with serving(script, size=1, read_timeout=0.3) as (server, poster):
        error = await failure(poster)
        assert type(error).__name__ == "TimedOut" and "not sent" not in error.message
        assert kind(error) == ErrorKind.UNCERTAIN
        assert (await poster.post(BODY))[0] == 200  # on a new connection
        assert server.accepted == 2


# -- failures before the request left: not sent, retried ------------------------------------


async def test_a_refused_connection_is_not_sent_and_transient() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    poster = FormPoster(
        URL(f"http://127.0.0.1:{port}{PATH}"), size=2, acquire_timeout=10, read_timeout=10
    )
    error = await failure(poster)
    assert type(error) is NetworkError and "not sent" in error.message
    assert classify_recipient(error).kind == ErrorKind.TRANSIENT
    assert poster.connections == 0
    await poster.close()


async def test_waiting_too_long_for_a_pooled_connection_is_not_sent() -> None:
    async with serving(
        lambda r: Reply(None, hold=True), size=1, acquire_timeout=0.3, read_timeout=None
    ) as (server, poster):
        first = asyncio.ensure_future(poster.post(BODY))
        await server.wait_for(lambda: len(server.received) == 1, "the first request")
        error = await failure(poster)
        assert type(error).__name__ == "TimedOut" and "not sent" in error.message
        assert kind(error) == ErrorKind.TRANSIENT
        assert len(server.received) == 1
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first


async def test_a_freed_connection_goes_to_the_request_waiting_for_one() -> None:
    release = asyncio.Event()

    async def script(received: Received) -> Reply:
        await release.wait()
        return ok()

    async with serving(script, size=1) as (server, poster):
        first = asyncio.ensure_future(poster.post(BODY))
        await server.wait_for(lambda: len(server.received) == 1, "the first request")
        second = asyncio.ensure_future(poster.post(BODY))
        release.set()
        assert [(await first)[0], (await second)[0]] == [200, 200]
        assert server.accepted == 1


# -- Bot API answers ------------------------------------------------------------------------


async def test_bot_api_errors_map_as_python_telegram_bot_maps_them() -> None:
    replies = iter(
        [
            answer(
                429,
                {
                    "ok": False,
                    "description": "Too Many Requests: retry after 7",
                    "parameters": {"retry_after": 7},
                },
            ),
            answer(400, {"ok": False, "description": "Bad Request: chat not found"}),
            answer(403, {"ok": False, "description": "Forbidden: bot was blocked by the user"}),
        ]
    )
    async with serving(lambda r: Reply(next(replies))) as (server, poster):
        with pytest.raises(RetryAfter) as limited:
            answer_result(*await poster.post(BODY))
        assert classify_recipient(limited.value).retry_after == 7
        with pytest.raises(BadRequest) as missing:
            answer_result(*await poster.post(BODY))
        assert classify_recipient(missing.value).gone == "chat not found"
        with pytest.raises(Forbidden) as blocked:
            answer_result(*await poster.post(BODY))
        assert classify_recipient(blocked.value).gone == "blocked the bot"
        assert server.accepted == 1


# -- https ----------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate, and a client context that trusts it."""
    cert_file, key_file = self_signed(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


async def test_https_keeps_one_connection_for_many_requests(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls
    async with serving(lambda r: ok(), server_tls=server_context, client_tls=client_context) as (
        server,
        poster,
    ):
        for _ in range(5):
            assert answer_result(*await poster.post(BODY)) == {"message_id": 1}
        assert server.accepted == 1 and server.received[0].body == BODY


async def test_https_to_an_untrusted_certificate_is_not_sent(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, _ = tls
    async with serving(lambda r: ok(), server_tls=server_context) as (
        server,
        poster,
    ):  # the system's trust store
        error = await failure(poster)
        assert "not sent" in error.message and kind(error) == ErrorKind.TRANSIENT
        assert not server.received


# -- the sender ----------------------------------------------------------------------------

GET_ME = {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "B", "username": "b"}}


def bot_api(send: Callable[[Received], Reply]) -> Script:
    """A Bot API that answers getMe, and sendMessage with ``send``."""
    return lambda r: send(r) if "/sendMessage " in r.request_line else Reply(answer(body=GET_ME))


async def test_the_sender_posts_on_kept_connections_and_a_lost_answer_is_uncertain() -> None:
    sends = 0

    def send(received: Received) -> Reply:
        nonlocal sends
        sends += 1
        return ok(sends) if sends < 3 else Reply(None, close=True)

    async with ScriptedServer(bot_api(send)) as server:
        root = server.url("")
        sender = build_private_sender(TOKEN, root, pool=4, read_timeout=10)
        try:
            assert [await sender.send(7, "hi"), await sender.send(8, "hi")] == [1, 2]
            posts = [r for r in server.received if "/sendMessage " in r.request_line]
            assert {r.connection for r in posts} == {posts[0].connection}
            # getMe went through aiohttp, which asks for compression; FormPoster does not.
            [get_me] = [r for r in server.received if "/getMe " in r.request_line]
            assert get_me.header("Accept-Encoding") and not posts[0].header("Accept-Encoding")
            with pytest.raises(RecipientError) as lost:
                await sender.send(9, "hi")
            assert lost.value.kind == ErrorKind.UNCERTAIN and TOKEN not in str(lost.value)
        finally:
            await sender.close()


def test_the_lean_poster_is_used_unless_a_proxy_is_set() -> None:
    url = URL(f"https://api.telegram.org{PATH}")
    direct = AiohttpRequest(connection_pool_size=3, read_timeout=4, pool_timeout=1)
    assert isinstance(direct.form_poster(url), FormPoster)
    assert AiohttpRequest(proxy="http://127.0.0.1:3128").form_poster(url) is None
