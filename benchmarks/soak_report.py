"""The soak benchmark's bookkeeping: rows in flight at each death, and the final table."""

from __future__ import annotations

import re
import socket
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.store import FINAL_DELIVERY, Delivery, Message, Store

HOST = socket.gethostname()[:60]
BURST_429 = 5  # sendMessage calls answered 429 by each injected burst
BURST_502 = 40  # ... and 502 (an outage of a second or two)
TAKEOVER = re.compile(
    r"^(\S+ \S+) WARNING bot\.delivery\.replicas: process \S+ took over the (\w+) duty from "
    r"\S+:(\d+):\S+ \(([\d.]+) s after its last renewal",
    re.MULTILINE,
)
RECOVERED = re.compile(r"process \S+ has been silent for (\d+) s: taking over its work")


@dataclass
class Deaths:
    """Each SIGKILL and SIGSTOP: when, and which rows the process had in ``sending``."""

    url: str
    at: dict[int, tuple[float, str]] = field(default_factory=dict)  # pid -> (wall time, kind)
    in_flight: set[tuple[str, int]] = field(default_factory=set)

    def died(self, pid: int, kind: str) -> None:
        self.at[pid] = (time.time(), kind)
        time.sleep(1.0)  # its last commits land (or not) before looking
        prefix = f"{HOST}:{pid}:"
        store = Store(self.url)
        try:
            with store.sessions() as session:
                for table, name in ((Delivery, "delivery"), (Message, "message")):
                    ids = session.scalars(
                        select(table.id).where(
                            table.status == "sending", table.owner.startswith(prefix)
                        )
                    )
                    self.in_flight.update((name, i) for i in ids)
        except Exception as exc:  # the database is down this moment: nothing to classify
            print(f"  could not look at {pid}'s rows: {type(exc).__name__}")
        finally:
            store.close()

    def wait_final(self, timeout: float) -> bool:
        """Wait until no delivery or message is pending or sending."""
        store = Store(self.url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    with store.sessions() as session:
                        busy = session.scalar(
                            select(Message.id)
                            .where(Message.status.not_in(list(FINAL_DELIVERY)))
                            .limit(1)
                        ) or session.scalar(
                            select(Delivery.id)
                            .where(Delivery.status.not_in(list(FINAL_DELIVERY)))
                            .limit(1)
                        )
                    if busy is None:
                        return True
                except Exception:  # a restart in progress: look again
                    pass
                time.sleep(2)
            return False
        finally:
            store.close()


def _row(name: str, counts: dict[str, Any]) -> str:
    keys = ("due", "sent", "uncertain", "false uncertain", "lost", "duplicated")
    return f"| {name} | " + " | ".join(str(counts[k]) for k in keys) + " |"


def _posts(store: Store, channel: Counter[str], deaths: Deaths) -> dict[str, Any]:
    with store.sessions() as session:
        rows = list(session.scalars(select(Delivery)))
    counts = Counter(due=0, sent=0, uncertain=0, lost=0, duplicated=0)
    counts["false uncertain"] = 0
    for row in rows:
        counts["due"] += 1
        times = channel[row.text] if row.text else 0
        counts["duplicated"] += max(0, times - 1)
        if row.status == "sent":
            counts["sent"] += 1
            counts["lost"] += times == 0
        elif row.status == "uncertain":
            counts["uncertain"] += 1
            counts["false uncertain"] += ("delivery", row.id) not in deaths.in_flight
        else:
            counts["lost"] += 1  # failed, missed, or never finished
    return counts


def _recipients(
    store: Store, per_chat: dict[int, int], chats: list[int], deaths: Deaths
) -> dict[str, Any]:
    with store.sessions() as session:
        rows = list(session.scalars(select(Message)))
    counts = Counter(due=len(rows), sent=0, uncertain=0, lost=0, duplicated=0)
    counts["false uncertain"] = 0
    sent: Counter[int] = Counter()
    uncertain: Counter[int] = Counter()
    for row in rows:
        if row.status == "sent":
            sent[row.chat_id] += 1
        elif row.status == "uncertain":
            uncertain[row.chat_id] += 1
            counts["false uncertain"] += ("message", row.id) not in deaths.in_flight
        else:
            counts["lost"] += 1
    counts["sent"] = sum(sent.values())
    counts["uncertain"] = sum(uncertain.values())
    for chat in chats:
        got = per_chat.get(chat, 0)
        counts["lost"] += max(0, sent[chat] - got)
        counts["duplicated"] += max(0, got - sent[chat] - uncertain[chat])
    return counts


def _takeovers(logs: str, deaths: Deaths) -> list[str]:
    lines = []
    from_death = []
    renewal = []
    for stamp, duty, pid, seconds in TAKEOVER.findall(logs):
        renewal.append(float(seconds))
        died = deaths.at.get(int(pid))
        if died is not None:
            # Log lines carry local time.
            at = (
                time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S"))
                + int(stamp[20:]) / 1000
            )
            from_death.append(at - died[0])
        lines.append(f"{duty} from pid {pid}: {float(seconds):.1f} s after its last renewal")
    summary = [f"duty takeovers: {len(renewal)}"]
    for name, values in (("after the holder died", from_death), ("after renewal", renewal)):
        if values:
            summary.append(
                f"  {name}: min {min(values):.1f} s, median {statistics.median(values):.1f} s, "
                f"max {max(values):.1f} s"
            )
    recovered = [int(s) for s in RECOVERED.findall(logs)]
    summary.append(f"processes taken over (rows recovered): {len(recovered)}")
    return summary


def report(
    url: str,
    fake: Any,
    chats: list[int],
    broadcast: int,
    deaths: Deaths,
    logs: str,
    actions: list[str],
    elapsed: float,
) -> str:
    """The table: posts and recipients (due, sent, uncertain, lost, duplicated), 429s and
    takeovers."""
    stats = fake.get("/_stats")
    channel = Counter(m["text"] for m in fake.get("/_messages?chat_id=@campaign"))
    per_chat = {int(chat): n for chat, n in stats["per_chat"].items()}
    store = Store(url)
    try:
        posts = _posts(store, channel, deaths)
        recipients = _recipients(store, per_chat, chats, deaths)
    finally:
        store.close()
    done = Counter(actions)
    lines = [
        f"soak: {elapsed:.0f} s with {', '.join(f'{n} {a}' for a, n in sorted(done.items()))}",
        "",
        "| | due | sent | uncertain | of which not in flight | lost | duplicated |",
        "|---|---|---|---|---|---|---|",
        _row("channel posts", posts),
        _row("recipients", recipients),
        "",
        f"429 answers: {stats['rate_limited']} ({BURST_429 * done['429']} injected; "
        f"over the fake's caps: {stats['over_cap'] or 'none'}); "
        f"502 answers: {stats['errors_5xx']} at random, {BURST_502 * done['502']} injected; "
        f"most getUpdates at once: {stats['max_concurrent_polls']}; "
        f"409 conflicts: {stats['poll_conflicts']}",
        *_takeovers(logs, deaths),
    ]
    return "\n".join(lines)
