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
