"""What /healthz answers: whether the parts of a process that must keep moving still do.

An HTTP thread that answers proves only that the HTTP thread lives. A stream worker or a bridge
is alive when its own loop still turns and its Kafka consumer still hears from the broker (an
idle consumer's long polls and heartbeats are answered every second or so, so idle is not
stuck). Each part beats; /healthz is 503 once any beat is older than the bound, so Kubernetes
restarts a process wedged in a hung rebalance, a blocked loop or a broker that stopped answering.
A part that only has work now and then (the RabbitMQ tap's delivery of a batch) rests in between:
waiting for nothing is not being stuck.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Liveness:
    """Named heartbeats; healthy while every one is at most `bound` seconds old."""

    def __init__(self, bound: float, parts: tuple[str, ...]) -> None:
        self.bound = bound
        now = time.monotonic()
        #: When each part last beat; None while it rests.
        self.beats: dict[str, float | None] = dict.fromkeys(parts, now)  # starting is a beat
        #: Parts that handed their work back undone: (their clock then, when they did).
        self._handed_back: dict[str, tuple[float, float]] = {}
        self._reported: tuple[str, ...] = ()

    def beat(self, part: str) -> None:
        self._handed_back.pop(part, None)
        self.beats[part] = time.monotonic()

    def busy(self, part: str) -> None:
        """`part` has work: a resting part's clock starts now (or goes on from where it was, if
        it handed work back within the bound), a running one's goes on."""
        if self.beats.get(part) is not None:
            return
        now = time.monotonic()
        clock, handed_back_at = self._handed_back.pop(part, (now, now))
        self.beats[part] = clock if now - handed_back_at <= self.bound else now

    def rest(self, part: str) -> None:
        """`part` has nothing to do, so it cannot be stuck until it is busy again."""
        self._handed_back.pop(part, None)
        self.beats[part] = None

    def hand_back(self, part: str) -> None:
        """`part` gave its work back undone, to be retried here or by another replica: it rests
        (an idle replica is not stuck), but work it takes up again within the bound goes on with
        the old clock (the same work failing again is no progress)."""
        clock = self.beats.get(part)
        self.rest(part)
        if clock is not None:
            self._handed_back[part] = (clock, time.monotonic())

    def stale(self) -> list[str]:
        now = time.monotonic()
        return [part for part, at in self.beats.items() if at is not None and now - at > self.bound]

    def healthy(self) -> bool:
        stale = tuple(self.stale())
        if stale != self._reported:  # said once per change, not once per probe
            self._reported = stale
            if stale:
                log.error("unhealthy: no progress of %s for over %.0f s", " and ".join(stale),
                          self.bound)
            else:
                log.warning("healthy again")
        return not stale


def librdkafka_answers(on_answer: Callable[[], None]) -> Callable[[str], None]:
    """A librdkafka stats_cb calling `on_answer` whenever the brokers sent responses since the
    previous statistics (`rx`, per broker): an idle consumer's fetches count, a silent broker not."""
    last = {"rx": -1}

    def stats_cb(text: str) -> None:
        try:
            brokers = json.loads(text).get("brokers", {})
        except ValueError:
            return
        rx = sum(int(b.get("rx", 0)) for name, b in brokers.items() if "/internal" not in name)
        if rx > last["rx"] >= 0 or (last["rx"] < 0 < rx):
            on_answer()
        last["rx"] = rx

    return stats_cb
