"""A resting part is never stale; a busy one is, once its last beat is older than the bound."""

from __future__ import annotations

import pytest

from producers import liveness
from producers.liveness import Liveness


def test_rest_busy_and_beat(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(liveness.time, "monotonic", lambda: clock[0])
    live = Liveness(3.0, ("delivery", "loop"))
    live.rest("delivery")
    clock[0] = 110.0  # 10 s: the loop never beat, delivery rested
    assert live.stale() == ["loop"]
    live.beat("loop")
    live.busy("delivery")  # the clock starts at 110
    clock[0] = 112.0
    live.busy("delivery")  # already busy: the clock goes on from 110
    clock[0] = 113.5
    assert live.stale() == ["delivery", "loop"]
    assert not live.healthy()
    live.beat("delivery")
    live.beat("loop")
    assert live.healthy()
    live.rest("delivery")
    clock[0] = 200.0
    assert live.stale() == ["loop"]


def test_work_handed_back_rests_unless_taken_up_again_within_the_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The RabbitMQ tap after Kafka failed a batch: RabbitMQ may redeliver it to another
    replica (this one is idle, not stuck), or to this one (the same failure goes on)."""
    clock = [100.0]
    monkeypatch.setattr(liveness.time, "monotonic", lambda: clock[0])
    live = Liveness(10.0, ("delivery",))
    live.busy("delivery")  # already busy since start: the clock runs from 100
    clock[0] = 130.0
    live.hand_back("delivery")  # failed for good, requeued
    clock[0] = 500.0
    assert live.healthy()  # went elsewhere: an idle replica stays healthy
    live.busy("delivery")  # new work long after: a fresh clock
    clock[0] = 505.0
    assert live.healthy()

    live.hand_back("delivery")  # failed again (its clock from 500)
    clock[0] = 507.0
    live.busy("delivery")  # back here within the bound: the old clock goes on
    clock[0] = 511.0
    assert live.stale() == ["delivery"]  # 11 s since 500 (a fresh clock would say 4 s)
    live.beat("delivery")  # delivered: progress
    assert live.healthy()
    live.hand_back("delivery")
    live.rest("delivery")  # acknowledged: nothing left of the hand-back
    clock[0] = 512.0
    live.busy("delivery")
    clock[0] = 521.0
    assert live.healthy()
