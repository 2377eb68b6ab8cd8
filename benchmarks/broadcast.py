"""Broadcast benchmark: the fan-out against the fake Bot API (latency, rate cap), and baselines.

Run from the repository root: ``python -m benchmarks.broadcast`` (``--help`` for options).
Every measured bot runs in its own process, so CPU time and peak memory are its own; the fake
Bot API runs in another process on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.idle import run_idle  # noqa: E402
from benchmarks.idle import table as idle_table  # noqa: E402
from benchmarks.subscribers import fill_subscribers  # noqa: E402

TOKEN = "123456:BENCH-token"
LATENCY_MS = 100.0


@dataclass
class Scenario:
    name: str
    recipients: int
    cap: int
    mode: str  # fanout, naive, paced
    rate: float = 25.0
    paid: bool = False
    backend: str = "sqlite"
    time_limit: float | None = None  # stop the fan-out after this long (the 1M memory runs)
    latency_ms: float = LATENCY_MS
    profile: str | None = None  # write the bot process's cProfile statistics here


@contextmanager
def fake_api(cap: int | None, latency_ms: float) -> Iterator[str]:
    """Run the fake Bot API in its own process; yield its root URL."""
    command = [sys.executable, "-m", "tests.fakes.telegram_api", "--latency-ms", str(latency_ms)]
    if cap:
        command += ["--rate-cap", str(cap)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if line[:1] != ["READY"]:
            raise RuntimeError(f"the fake Bot API did not start: {line}")
        yield f"http://127.0.0.1:{line[1]}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def fake_stats(root: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{root}/_stats", timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    from tests.databases import database_url

    with database_url(backend, folder) as url:
        yield url


def run_scenario(scenario: Scenario, folder: Path) -> dict[str, Any]:
    """Set up subscribers and the fake API, run the bot in a child process, collect results."""
    from tests.campaign_factory import action, demand, finding, make_campaign

    everyone = action(reviewed=["en", "ar", "ckb"], topics=["weapons", "acknowledge"])
    folder = folder / f"run{time.monotonic_ns()}"
    folder.mkdir()
    campaign = make_campaign(folder / "campaign", [finding(), demand(), everyone])
    with (
        database(scenario.backend, folder) as url,
        fake_api(scenario.cap, scenario.latency_ms) as root,
    ):
        fill_subscribers(url, scenario.recipients)
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.worker",
                json.dumps(
                    {
                        "mode": scenario.mode,
                        "database": url,
                        "config": str(campaign.config_path),
                        "api": root,
                        "token": TOKEN,
                        "rate": scenario.rate,
                        "paid": scenario.paid,
                        "recipients": scenario.recipients,
                        "time_limit": scenario.time_limit,
                        "profile": scenario.profile,
                    }
                ),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"{scenario.name} failed:\n{child.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        stats = fake_stats(root)
    result.update(
        name=scenario.name,
        cap=scenario.cap,
        rate_limited=stats["rate_limited"],
        delivered=stats["delivered"],
        duplicates=stats["duplicates"],
    )
    return result


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the results, with ratios to the cap and to each baseline."""
    baselines = {r["name"]: r["sent"] / r["seconds"] for r in results if r["mode"] != "fanout"}
    naive = baselines.get("naive PTB loop")
    paced = baselines.get("paced loop (0.05 s sleep)")
    header = (
        "| run | selected | selection s | sent | seconds | msg/s | of cap | × naive | × paced "
        "| 429s | CPU ms/msg | peak RSS MB |"
    )
    lines = [header, "|" + "---|" * 12]
    for r in results:
        rate = r["sent"] / r["seconds"]
        selected = r.get("selected", r["sent"])
        lines.append(
            f"| {r['name']} | {selected:,} | {r.get('selection_seconds', 0):.1f} | "
            f"{r['sent']:,} | {r['seconds']:.1f} | {rate:.1f} | "
            f"{rate / r['cap']:.1%} | {rate / naive if naive else 0:.1f} | "
            f"{rate / paced if paced else 0:.1f} | {r['rate_limited']} | "
            f"{r['cpu'] / max(r['sent'], 1) * 1000:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    small = args.quick
    runs = [
        Scenario("naive PTB loop", args.baseline, 30, "naive"),
        Scenario("paced loop (0.05 s sleep)", args.baseline, 30, "paced"),
        Scenario("fan-out, free, cap 30", 1000 if small else 10_000, 30, "fanout", rate=29.4),
    ]
    # The paid lane at the rate earlier releases were measured at (96 % of the cap), and at
    # 98 % of it, the margin the free lane keeps (29.4 of 30/s). The ratio to the cap can
    # never exceed the configured rate's share, less the selection before the first message.
    for rate in (960.0, 980.0):
        runs.append(
            Scenario(
                f"fan-out, paid, cap 1000, rate {rate:.0f}",
                5000 if small else 30_000,
                1000,
                "fanout",
                rate=rate,
                paid=True,
            )
        )
    if not args.skip_million:
        for backend in args.backends:
            runs.append(
                Scenario(
                    f"1M subscribers, {backend}",
                    args.million,
                    1000,
                    "fanout",
                    rate=960.0,
                    paid=True,
                    backend=backend,
                    time_limit=args.million_seconds,
                )
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small counts (a smoke run).")
    parser.add_argument("--baseline", type=int, default=300, help="Recipients per baseline.")
    parser.add_argument("--skip-million", action="store_true", help="Skip the memory runs.")
    parser.add_argument("--million", type=int, default=1_000_000, help="Memory-run subscribers.")
    parser.add_argument(
        "--million-seconds",
        type=float,
        default=60.0,
        help="How long the memory runs fan out after selecting everyone (0: to the end).",
    )
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], help="Memory-run databases."
    )
    parser.add_argument("--only", help="Run only scenarios whose name contains this.")
    parser.add_argument(
        "--idle-subscribers", type=int, default=100_000, help="Subscribers of the idle run."
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=60.0, help="Idle run length (0: skip it)."
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="Profile each bot process (cProfile; slows it down) and write DIR/<run>.prof.",
    )
    args = parser.parse_args()
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for scenario in scenarios(args):
            if args.only and args.only not in scenario.name:
                continue
            if scenario.time_limit == 0:
                scenario.time_limit = None
            if args.profile:
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                slug = "".join(c if c.isalnum() else "-" for c in scenario.name)
                scenario.profile = str(Path(args.profile).resolve() / f"{slug}.prof")
            print(f"running: {scenario.name} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            results.append(run_scenario(scenario, Path(folder)))
            print(
                f"  done in {time.monotonic() - started:.0f} s: {results[-1]}",
                file=sys.stderr,
                flush=True,
            )
        idle = []
        if args.idle_seconds > 0 and (not args.only or args.only in "idle worker"):
            print("running: idle worker ...", file=sys.stderr, flush=True)
            idle.append(run_idle(Path(folder), args.idle_subscribers, args.idle_seconds))
    if results:
        print(table(results))
    if idle:
        print()
        print(idle_table(idle))


if __name__ == "__main__":
    main()
