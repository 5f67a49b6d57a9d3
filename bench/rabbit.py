"""The RabbitMQ tap's rate from a backlog into Kafka, against a bare oslo.messaging listener.

    .venv/bin/python bench/rabbit.py [--n 20000] [--batch-size 500] [--rounds 3]

One RabbitMQ node (Debian's rabbitmq-server, started here on free ports) and the embedded Kafka
broker. The backlog is sent once, the way glance-api sends (oslo.messaging Notifier, driver
messagingv2, publisher_id image.localhost, the simulator's image.send/task mix), to a topic that
two pool queues are bound to, so both contenders drain the very same messages:

* bare listener: oslo.messaging's batch notification listener (same pool mechanics, batch size
  and timeout, one worker) whose endpoint returns at once: oslo + kombu + RabbitMQ acks, the
  ceiling for anything built on that listener.
* tap: RabbitTap, in this process: every batch encoded to Avro, produced, delivered to Kafka
  (acks=all, idempotent) and only then acknowledged.

Each is timed from start() until its last message is acknowledged (its queue empty, checked with
rabbitmqctl; the acks counted by the endpoint end the clock). Rounds alternate the order, each
on a fresh backlog. Prints both rates and the ratio (target >= 0.7).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _common import ROOT, broker, rate, settings_for, write_result

sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from producers.rabbit import RabbitTap, TapOptions  # noqa: E402
from tests.integration.test_stream_exactness import synthetic_events  # noqa: E402
from tests.rabbitmq import (  # noqa: E402
    GLANCE_PUBLISHER,
    BareListener,
    GlanceLikeNotifier,
    RabbitMQ,
    declare_pool,
)


def _wait(condition, timeout: float, what: str) -> float:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)
    return time.monotonic()


def bare(url: str, topic: str, pool: str, n: int, batch_size: int) -> float:
    started = time.monotonic()
    listener = BareListener(url, topic, pool=pool, batch_size=batch_size, batch_timeout=1.0)
    try:
        done = _wait(lambda: sum(listener.seen.values()) >= n, 600, "the bare listener")
    finally:
        listener.close()
    return done - started


def tap(url: str, topic: str, pool: str, n: int, batch_size: int, settings) -> float:  # noqa: ANN001
    registry = CollectorRegistry()
    runner = RabbitTap(settings, TapOptions(transport_url=url, topics=(topic,), pool=pool,
                                            batch_size=batch_size, batch_timeout=1.0),
                       registry=registry)
    thread = threading.Thread(target=runner.run, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        done = _wait(lambda: (registry.get_sample_value("glance_bridge_acked_total") or 0) >= n,
                     600, "the tap")
    finally:
        runner.stop()
        thread.join(60)
    return done - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-rabbit-") as tmp, \
            RabbitMQ(Path(tmp)) as node, broker() as kafka:
        settings = settings_for(kafka, prefix=f"b{uuid.uuid4().hex[:6]}.")
        url = node.transport_url
        for round_ in range(args.rounds):
            topic = f"bench{round_}.notifications"
            pools = {"bare": f"bare{round_}", "tap": f"tap{round_}"}
            for pool in pools.values():
                declare_pool(url, topic, pool)
            notifier = GlanceLikeNotifier(url, [topic])
            sending = time.monotonic()
            try:
                notifier.send_many([{**e, "publisher_id": GLANCE_PUBLISHER}
                                    for e in synthetic_events(args.n, seed=round_)])
            finally:
                notifier.close()
            sent_in = time.monotonic() - sending
            queues = node.list_queues()
            assert all(queues[p] == args.n for p in pools.values()), queues
            order = ("bare", "tap") if round_ % 2 == 0 else ("tap", "bare")
            seconds = {}
            for name in order:
                if name == "bare":
                    seconds[name] = bare(url, topic, pools[name], args.n, args.batch_size)
                else:
                    seconds[name] = tap(url, topic, pools[name], args.n, args.batch_size, settings)
                _wait(lambda p=pools[name]: node.list_queues()[p] == 0, 60, f"{name}'s queue empty")
            ratio = seconds["bare"] / seconds["tap"]
            rows.append({"round": round_, "order": order, "n": args.n, "sent_seconds": sent_in,
                         "bare_per_s": rate(args.n, seconds["bare"]),
                         "tap_per_s": rate(args.n, seconds["tap"]), "ratio": ratio})
            print(f"round {round_} ({' then '.join(order)}): backlog of {args.n} sent in "
                  f"{sent_in:.1f}s; bare listener {rows[-1]['bare_per_s']:,.0f}/s, "
                  f"tap into Kafka {rows[-1]['tap_per_s']:,.0f}/s, ratio {ratio:.2f}", flush=True)
    ratios = [r["ratio"] for r in rows]
    print(f"\ntap / bare listener: {min(ratios):.2f}-{max(ratios):.2f} (target >= 0.7)")
    write_result("rabbit", {"batch_size": args.batch_size, "rounds": rows,
                            "ratio_min": min(ratios), "ratio_max": max(ratios)})


if __name__ == "__main__":
    main()
