"""The fan-out's pacer: even spacing, no burst after a stall at low rates, one slowdown per 429."""

from __future__ import annotations

import itertools
import random

from bot.delivery.ratelimit import CATCH_UP, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def grants_within(pacer: Pacer, clock: Clock, seconds: float) -> list[float]:
    """Take every grant the pacer gives until ``seconds`` from now; return their times."""
    end = clock.now + seconds
    times = []
    while True:
        wait = pacer.delay()
        if clock.now + wait > end:
            return times
        clock.now += wait
        pacer.take()
        pacer.left(pacer.departed())  # the request leaves at its grant
        times.append(clock.now)


def test_grants_are_evenly_spaced() -> None:
    clock = Clock()
    pacer = Pacer(25.0, clock)
    times = grants_within(pacer, clock, 2.0)
    gaps = [round(b - a, 9) for a, b in itertools.pairwise(times)]
    # The first grant may use the catch-up allowance (a quarter interval), then it is even.
    assert gaps[0] >= 0.03 and set(gaps[1:]) == {0.04}
    assert len(times) in (50, 51)


def test_a_slow_pacer_never_fits_one_more_message_into_a_second() -> None:
    clock = Clock()
    pacer = Pacer(29.4, clock)
    times: list[float] = []
    for stall in (0.2, 0.005, 0.03, 0.001, 0.5, 0.012) * 5:
        times += grants_within(pacer, clock, 0.3)
        clock.now += stall  # the event loop was busy
    # Against a cap of 30 per second, however the stalls fell.
    assert max(len([t for t in times if start <= t < start + 1.0]) for start in times) <= 30
    # Timers firing a little late do not lower the rate: the pacer makes up for them.
    late = Clock()
    paced = Pacer(29.4, late)
    count = 0
    while late.now < 110.0:
        late.now += paced.delay() + 0.001  # every wake-up a millisecond late
        paced.take()
        paced.left(paced.departed())
        count += 1
    assert count >= 29.4 * 10 - 1


def test_a_fast_pacer_catches_up_at_most_catch_up_seconds() -> None:
    clock = Clock()
    pacer = Pacer(960.0, clock)
    grants_within(pacer, clock, 0.1)
    clock.now += 0.5
    stalled = clock.now
    burst = [t for t in grants_within(pacer, clock, 0.0005) if t == stalled]
    assert 1 <= len(burst) <= round(CATCH_UP * 960) + 1


def test_a_burst_of_429_answers_slows_the_rate_once() -> None:
    clock = Clock()
    pacer = Pacer(100.0, clock)
    for _ in range(20):  # every request in flight gets its 429
        pacer.penalize(1.0)
    assert pacer.rate == 70.0 and pacer.penalties == 1
    assert pacer.delay() == 1.0
    clock.now += 2.0
    pacer.penalize(1.0)  # a new episode
    assert pacer.rate == 49.0 and pacer.penalties == 2


def most_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_twelve_messages_at_20_per_second_span_eleven_intervals() -> None:
    clock = Clock()
    pacer = Pacer(20.0, clock)
    times = grants_within(pacer, clock, 10.0)[:12]
    # The first grant may come a quarter interval early (catch-up), never more.
    assert times[-1] - times[0] >= 11 / 20 - 0.25 / 20 - 1e-9
    gaps = [round(b - a, 9) for a, b in itertools.pairwise(times)]
    assert set(gaps[1:]) == {0.05}


def leave_late(pacer: Pacer, clock: Clock, count: int, late: list[float]) -> list[float]:
    """Grant ``count`` requests; each one's claim commits ``late[i]`` seconds after its grant,
    while the next grants go on, and it leaves when the pacer says. Return the departures."""
    departures: list[float] = []
    committing: list[float] = []  # commit times of granted requests, not committed yet
    for index in range(count):
        wait = pacer.delay()
        while committing and min(committing) <= clock.now + wait:  # a commit lands first
            clock.now = max(clock.now, min(committing))
            committing.remove(min(committing))
            departures.append(clock.now + pacer.departed().hold)
            wait = pacer.delay()
        clock.now += wait
        pacer.take()
        committing.append(clock.now + late[index % len(late)])
    for moment in sorted(committing):
        clock.now = max(clock.now, moment)
        departures.append(clock.now + pacer.departed().hold)
    return departures


def test_commits_that_bunch_departures_never_put_31_requests_in_a_second_at_29_4() -> None:
    chance = random.Random(7)
    late = [chance.choice((0.001, 0.002, 0.020, 0.050)) for _ in range(97)]
    clock = Clock()
    pacer = Pacer(29.4, clock)
    departures = leave_late(pacer, clock, 600, late)
    assert most_in_one_second(departures) <= 30
    # Bunching costs almost nothing: the rate stays near 29.4/s.
    assert len(departures) / (departures[-1] - departures[0]) >= 29.4 * 0.97


def test_a_stalled_database_does_not_release_a_burst_above_the_window() -> None:
    clock = Clock()
    pacer = Pacer(960.0, clock)
    # Every 500th claim waits 0.3 s for a slow commit (selection holding the database).
    late = [0.002] * 499 + [0.3]
    departures = leave_late(pacer, clock, 5000, late)
    assert most_in_one_second(departures) <= pacer.limit
    assert pacer.limit == 965  # 35 under a cap of 1000


def test_a_request_that_never_leaves_frees_its_place_in_the_window() -> None:
    clock = Clock()
    pacer = Pacer(5.0, clock)
    for _ in range(pacer.limit):
        clock.now += pacer.delay()
        pacer.take()  # and its claim fails: it never departs
    clock.now += pacer.delay()
    assert pacer.delay() <= 1 / 5.0  # not held for a whole WINDOW


def test_claims_that_commit_late_cost_the_rate_nothing_and_never_exceed_the_cap() -> None:
    """Claims commit 1 to 30 ms after their grant (a journal round every 20 ms): the requests
    leave at the configured rate, and never more than ``limit`` in a second: 985 at 980/s,
    leaving 15 of the cap of 1000 to jitter on the way."""
    chance = random.Random(3)
    late = [chance.uniform(0.001, 0.030) for _ in range(997)]
    clock = Clock()
    pacer = Pacer(980.0, clock)
    departures = leave_late(pacer, clock, 20_000, late)
    assert pacer.limit == 985
    assert most_in_one_second(departures) <= pacer.limit
    assert len(departures) / (departures[-1] - departures[0]) >= 980 * 0.995
    assert departures == sorted(departures)  # the holds keep departures in commit order


def test_a_request_that_leaves_late_is_counted_from_when_it_left() -> None:
    # At 29.4/s, 31 requests span 1.02 s when each leaves at its grant. One that leaves
    # 25 ms late (a busy event loop) would share a second with the 30 after it, unless the
    # pacer spaces them from when it really left.
    clock = Clock()
    pacer = Pacer(29.4, clock)
    departures: list[float] = []
    for index in range(90):
        clock.now += pacer.delay()
        pacer.take()
        departure = pacer.departed()
        clock.now += departure.hold
        if index == 5:
            clock.now += 0.025
        pacer.left(departure)
        departures.append(clock.now)
    assert most_in_one_second(departures) <= 30
    # Only the request 30 places after the late one waits, for the 25 ms it lost.
    assert len(departures) / (departures[-1] - departures[0]) >= 29.4 * 0.99
