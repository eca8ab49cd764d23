"""The countdown behind bakes, soaks and approval timeouts: it runs only while not paused, and
the time between its timers (alarm polls, metric reads) counts."""

from datetime import UTC, datetime, timedelta

from meshshift.migration.state import Countdown

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = timedelta(seconds=1)


def test_time_spent_between_timers_counts() -> None:
    c = Countdown.starting("bake", 10 * S, T0)
    assert c.ends_at == T0 + 10 * S
    c.refresh(T0 + 3 * S, paused=False)  # e.g. after a timer of 2 s and a poll of 1 s
    assert c.remaining == 7 * S and c.ends_at == T0 + 10 * S


def test_a_pause_freezes_the_remaining_time_and_a_resume_moves_the_end() -> None:
    c = Countdown.starting("bake", 10 * S, T0)
    c.refresh(T0 + 4 * S, paused=True)
    assert c.remaining == 6 * S and c.ends_at is None
    c.refresh(T0 + 100 * S, paused=True)  # paused for a long time
    assert c.remaining == 6 * S and c.ends_at is None
    c.refresh(T0 + 200 * S, paused=False)  # resumed
    assert c.remaining == 6 * S and c.ends_at == T0 + 206 * S


def test_it_never_goes_below_zero() -> None:
    c = Countdown.starting("soak", 2 * S, T0)
    c.refresh(T0 + 5 * S, paused=False)
    assert c.remaining == timedelta(0)
    assert Countdown.starting("soak", -S, T0).remaining == timedelta(0)


def test_refresh_is_idempotent_at_one_instant() -> None:
    c = Countdown.starting("approval", 10 * S, T0)
    c.refresh(T0 + 2 * S, paused=False)
    once = c.model_copy()
    c.refresh(T0 + 2 * S, paused=False)
    assert c == once
