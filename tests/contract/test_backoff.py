"""The one retry schedule (contract/backoff.py): doubling, capped, jittered within [cap/2, cap]."""

from __future__ import annotations

import random

import pytest

from contract.backoff import Backoff


def test_plain_schedule_doubles_to_the_cap_and_resets() -> None:
    b = Backoff(0.5, 4.0, jitter=False)
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.attempts == 6
    b.reset()
    assert (b.next(), b.attempts) == (0.5, 1)


def test_jittered_delays_stay_between_half_and_all_of_the_schedule() -> None:
    b = Backoff(0.5, 15.0, rng=random.Random(7))
    caps = [0.5, 1, 2, 4, 8, 15, 15, 15]
    for cap in caps * 50:
        if cap == 0.5:
            b.reset()
        delay = b.next()
        assert cap / 2 <= delay <= cap


def test_loops_that_failed_together_come_apart() -> None:
    """500 edges losing the hub at once: their 5th retries spread over seconds, not one instant."""
    rng = random.Random(13)
    loops = [Backoff(0.5, 15.0, rng=rng) for _ in range(500)]
    at = [sum(b.next() for _ in range(5)) for b in loops]
    unjittered = 0.5 + 1 + 2 + 4 + 8
    assert max(at) <= unjittered and min(at) >= unjittered / 2
    buckets = {round(t, 1) for t in at}  # 100 ms buckets
    assert len(buckets) > 40


@pytest.mark.parametrize(("args", "words"), [((0, 1), "0 < initial_s"), ((2, 1), "0 < initial_s"), ((1, 2, 0.5), "factor")])
def test_bad_schedules_are_refused(args: tuple, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Backoff(*args[:2], factor=args[2] if len(args) > 2 else 2.0)
