"""HTTP client benchmark: CPU per sendMessage on aiohttp and on the lean FormPoster, one run.

Run from the repository root: ``python -m benchmarks.http_client`` (``--help`` for options).
The fake Bot API runs in its own process; this process is the client, and its CPU time per
request is what is measured. A first pass that only waits as long as an answer takes shows
what the pacing itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from yarl import URL  # noqa: E402

from benchmarks.broadcast import TOKEN, fake_api  # noqa: E402
from benchmarks.measure import cpu_seconds  # noqa: E402
from bot.telegram.aiohttp_request import AiohttpRequest  # noqa: E402

PACE = 0.005  # seconds between two rounds of starting requests
Post = Callable[[bytes], Awaitable[tuple[int, bytes]]]
TEXT = (
    "<b>Acknowledge the civilian harm in west Mosul.</b> Write to your representative and ask "
    "for an independent investigation of every strike, with names and numbers. "
    "Source: Airwars, 2018. https://example.org/action"
)
TAIL = urlencode(
    {
        "text": TEXT,
        "parse_mode": "HTML",
        "link_preview_options": '{"is_disabled": true}',
        "allow_paid_broadcast": "true",
    }
).encode()


async def drive(post: Post, requests: int, rate: float, in_flight: int) -> dict[str, float]:
    """Send ``requests`` at ``rate`` per second, at most ``in_flight`` at a time.

    Every few milliseconds a pacer starts the requests that are due as tasks: cheaper for the
    client than a sleep per request, so the transports' cost stands out.
    """
    loop = asyncio.get_running_loop()
    statuses: Counter[int | str] = Counter()
    running: set[asyncio.Task[None]] = set()
    all_done = loop.create_future()

    async def one(index: int) -> None:
        try:
            status, _ = await post(b"chat_id=%d&%b" % (index % 5000 + 1, TAIL))
        except Exception as exc:
            statuses[type(exc).__name__] += 1
        else:
            statuses[status] += 1

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        if not running and started == requests and not all_done.done():
            all_done.set_result(None)

    cpu, wall = cpu_seconds(), time.monotonic()
    begin, started = loop.time(), 0
    while started < requests:
        due = min(requests, int((loop.time() - begin) * rate) + 1)
        while started < due and len(running) < in_flight:
            task = loop.create_task(one(started))
            running.add(task)
            task.add_done_callback(finished)
            started += 1
        await asyncio.sleep(PACE)
    if running:
        await all_done
    cpu, wall = cpu_seconds() - cpu, time.monotonic() - wall
    ok = statuses.pop(200, 0)
    if statuses:
        print(f"    answers other than 200: {dict(statuses)}")
    return {"ok": ok, "seconds": wall, "cpu_ms": cpu * 1000 / requests}


async def waiting(latency: float) -> Post:
    """A stand-in that only waits as long as the fake takes to answer: the pacing's own cost."""

    async def post(body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(latency)
        return 200, b"{}"

    return post


async def run(root: str, args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    url = URL(f"{root}/bot{TOKEN}/sendMessage")
    request = AiohttpRequest(connection_pool_size=256)
    await request.initialize()
    poster = request.form_poster(url)
    assert poster is not None
    limits = request.form_timeout()

    async def aiohttp_post(body: bytes) -> tuple[int, bytes]:
        return await request.post_form(url, body, limits)

    results = []
    candidates: list[tuple[str, Post]] = [
        ("pacing only (no HTTP)", await waiting(args.latency_ms / 1000)),
        ("aiohttp (AiohttpRequest.post_form)", aiohttp_post),
        ("lean (FormPoster.post)", poster.post),
    ]
    try:
        for name, post in candidates:
            # Warm up: open the connections and let the interpreter settle.
            await drive(post, min(args.requests, 2 * args.in_flight), args.rate, args.in_flight)
            print(f"running: {name} ...", flush=True)
            results.append((name, await drive(post, args.requests, args.rate, args.in_flight)))
    finally:
        await poster.close()
        await request.shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="Requests per client.")
    parser.add_argument("--rate", type=float, default=1000.0, help="Requests per second.")
    parser.add_argument("--in-flight", type=int, default=200, help="Requests at most at once.")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="The fake's latency.")
    args = parser.parse_args()
    with fake_api(None, args.latency_ms) as root:
        results = asyncio.run(run(root, args))
    print("| client | answered 200 | seconds | req/s | client CPU ms/req |")
    print("|---|---|---|---|---|")
    for name, row in results:
        rate = row["ok"] / row["seconds"]
        print(
            f"| {name} | {row['ok']:,.0f} | {row['seconds']:.1f} | {rate:.0f} | "
            f"{row['cpu_ms']:.3f} |"
        )
    cost = {name: row["cpu_ms"] for name, row in results}
    pacing, old, new = cost.values()
    print(f"\naiohttp / lean, CPU per request: {old / new:.1f}x")
    print(f"net of pacing: aiohttp {old - pacing:.3f} ms, lean {new - pacing:.3f} ms, ", end="")
    print(f"{(old - pacing) / max(new - pacing, 1e-9):.1f}x")


if __name__ == "__main__":
    main()
