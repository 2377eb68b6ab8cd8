"""Idle-worker benchmark: `campaign-bot run` with many subscribers and nothing due, CPU per minute.

Run from the repository root: ``python -m benchmarks.idle`` (``--help`` for options); the
broadcast benchmark runs it too. The worker talks to the fake Bot API (long polling included)
in another process; its CPU time is read from ``/proc``, so other load on the machine does not
count, only the worker's own timers and queries.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.subscribers import fill_subscribers  # noqa: E402

TOKEN = "123456:BENCH-token"
SETTLE_SECONDS = 5.0  # after start-up (migrations, recovery, first refresh) before measuring
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WINDOW_SECONDS = 10.0


def process_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds of a process (all its threads)."""
    return sum(process_times(pid))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_idle(
    folder: Path, subscribers: int, seconds: float, backend: str = "sqlite"
) -> dict[str, Any]:
    """Start the worker on ``subscribers`` (none due), wait, measure ``seconds`` of idling."""
    from benchmarks.broadcast import database, fake_api
    from tests.campaign_factory import action, demand, finding, make_campaign

    folder = folder / f"idle{time.monotonic_ns()}"
    folder.mkdir()
    everyone = action(reviewed=["en", "ar", "ckb"], topics=["weapons", "acknowledge"])
    campaign = make_campaign(folder / "campaign", [finding(), demand(), everyone])
    config = campaign.config()
    config["schedule"]["rules"] = []  # no post due either
    config["channels"] = {"console": {}}  # the Telegram bot still runs (token below)
    campaign.write_config(config)
    log = folder / "worker.log"
    with database(backend, folder) as url, fake_api(None, 0.0) as root:
        fill_subscribers(url, subscribers)  # reminders off: nothing is due
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PTB_"))}
        env.update(
            CAMPAIGN_CONFIG=str(campaign.config_path),
            DATABASE_URL=url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=root,
            PORT="0",  # any free port for the worker's HTTP server
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=out, stderr=out
            )
        try:
            deadline = time.monotonic() + 120
            while "worker running" not in log.read_text(errors="replace"):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            time.sleep(SETTLE_SECONDS)
            first, started = process_times(worker.pid), time.monotonic()
            # CPU per window, to tell a steady cost from a burst (and when the burst came).
            windows, last = [], sum(first)
            while (left := started + seconds - time.monotonic()) > 0:
                time.sleep(min(WINDOW_SECONDS, left))
                windows.append(process_cpu(worker.pid) - last)
                last += windows[-1]
            shown = " ".join(f"{w:.2f}" for w in windows)
            print(f"  idle worker, CPU s per {WINDOW_SECONDS:.0f} s: {shown}", file=sys.stderr)
            user, system = (b - a for a, b in zip(first, process_times(worker.pid), strict=True))
            elapsed = time.monotonic() - started
            rss = peak_rss_mb(worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    return {
        "name": f"idle worker, {subscribers:,} subscribers, {backend}",
        "seconds": elapsed,
        "cpu": user + system,
        "user": user,
        "system": system,
        "share": (user + system) / elapsed,
        "busiest_window": max(windows, default=0.0),
        "peak_rss_mb": rss,
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"| run | seconds | CPU s (user + system) | share of a core "
        f"| busiest {WINDOW_SECONDS:.0f} s, CPU s | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['seconds']:.0f} | {r['cpu']:.2f} ({r['user']:.2f} + "
            f"{r['system']:.2f}) | {r['share']:.2%} | {r['busiest_window']:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000, help="Subscribers.")
    parser.add_argument("--seconds", type=float, default=60.0, help="How long to measure.")
    parser.add_argument("--backend", default="sqlite", help="sqlite or postgresql.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = run_idle(Path(folder), args.subscribers, args.seconds, args.backend)
    print(table([result]))


if __name__ == "__main__":
    main()
