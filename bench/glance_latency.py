"""What the notifier driver costs Glance's API: download latency on a real glance-api.

    .venv/bin/python bench/glance_latency.py [--downloads 150] [--rounds 3] [--outage 200]

Three glance-api servers (Glance 33 under uWSGI, tests/glance_api.py: 2 workers each, no image
cache), identical but for [oslo_messaging_notifications]: driver = noop, driver = kafka-avro (the
embedded Kafka broker), and driver = messagingv2 over RabbitMQ (Debian's rabbitmq-server, as
most clouds run it). Each serves the same 64 KiB image; every download makes Glance send one
image.send. Rounds go through the three in turn (the order rotating) so a noisy neighbour on the
shared machine hits all of them alike; latency is the client's wall time per full download.
Prints p50/p99 per driver and the ratios to noop (target: kafka-avro adds < 5 % to p99).

Then the Kafka-down case: the broker is paused (SIGSTOP: it accepts nothing, answers nothing)
while a fourth server, kafka-avro with room for only 50 notifications in its local queue, serves
`--outage` downloads: the queue fills, later notifications are refused after at most
buffer_full_timeout (0.5 s) and then at once. Prints the longest any request took, and the
kafka-avro server's p99 over the same outage with its normal 100,000-record queue.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, broker, settings_for, write_result

sys.path.insert(0, str(ROOT))

from tests.glance_api import GlanceAPI, Project  # noqa: E402
from tests.rabbitmq import RabbitMQ  # noqa: E402

IMAGE_BYTES = 64 * 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": 1000 * percentile(values, 50),
            "p99_ms": 1000 * percentile(values, 99), "max_ms": 1000 * max(values),
            "mean_ms": 1000 * statistics.fmean(values)}


class Server:
    def __init__(self, name: str, base: Path, notifications: dict[str, Any],
                 extra: dict[str, dict[str, Any]] | None = None) -> None:
        self.name = name
        self.api = GlanceAPI(base / name, workers=2, notifications=notifications,
                             extra_config=extra or {})
        self.times: list[float] = []
        self.server_times: list[float] = []

    def start(self) -> None:
        self.api.start()
        self.client = self.api.client(Project())
        self.image = self.client.create_image(f"bench-{self.name}")["id"]
        self.client.upload(self.image, IMAGE_BYTES)
        for _ in range(10):  # warm: both workers load the driver, make their producer/connection
            self.client.download(self.image)

    def downloads(self, n: int) -> tuple[list[float], list[float]]:
        """Client wall times, and uWSGI's own request times for the same downloads (from its
        request log: they include the iterator's close(), where Glance sends image.send after
        the last byte, which the client no longer waits for)."""
        log = self.api.log_path
        offset = log.stat().st_size
        out = []
        for _ in range(n):
            started = time.perf_counter()
            received = self.client.download(self.image)
            out.append(time.perf_counter() - started)
            assert received == IMAGE_BYTES
        time.sleep(1.0)  # the last request's log line
        with log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        server = [int(m) / 1000 for m in re.findall(
            rf"GET /v2/images/{self.image}/file => generated \d+ bytes in (\d+) msecs", text)]
        return out, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--downloads", type=int, default=150, help="per driver per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outage", type=int, default=200, help="downloads with Kafka paused")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="glance-latency-"))
    with broker() as kafka, RabbitMQ(base / "rabbit") as rabbit:
        settings = settings_for(kafka, "bench.latency.")
        kafka_avro = {"glance_kafka": {"bootstrap_servers": kafka.bootstrap_servers,
                                       "topic_prefix": settings.topic_prefix}}
        servers = [
            Server("noop", base, {"driver": "noop"}),
            Server("kafka-avro", base, {"driver": "kafka-avro"}, kafka_avro),
            Server("messagingv2-rabbit", base, {"driver": "messagingv2",
                                                "transport_url": rabbit.url()}),
        ]
        small_queue = Server("kafka-avro-queue-50", base, {"driver": "kafka-avro"}, {
            "glance_kafka": {**kafka_avro["glance_kafka"],
                             "librdkafka": "queue.buffering.max.messages:50"}})
        try:
            for server in [*servers, small_queue]:
                server.start()
            for r in range(args.rounds):
                for server in servers[r % 3:] + servers[:r % 3]:
                    client, on_server = server.downloads(args.downloads)
                    server.times += client
                    server.server_times += on_server
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
            results: dict[str, Any] = {s.name: {**summary(s.times),
                                                "server": summary(s.server_times)}
                                       for s in servers}
            noop = results["noop"]
            for name in ("kafka-avro", "messagingv2-rabbit"):
                results[name]["p50_vs_noop"] = results[name]["p50_ms"] / noop["p50_ms"]
                results[name]["p99_vs_noop"] = results[name]["p99_ms"] / noop["p99_ms"]
                results[name]["server_p99_vs_noop"] = (results[name]["server"]["p99_ms"]
                                                       / noop["server"]["p99_ms"])

            kafka.pause()
            try:
                outage_normal = servers[1].downloads(args.outage)
                outage_small = small_queue.downloads(args.outage)
            finally:
                kafka.resume()
            results["kafka-down"] = {
                "kafka-avro": {**summary(outage_normal[0]), "server": summary(outage_normal[1])},
                "kafka-avro-queue-50": {**summary(outage_small[0]),
                                        "server": summary(outage_small[1])},
            }
        finally:
            for server in [*servers, small_queue]:
                server.api.stop()

    print(f"\n{'driver':<22}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'p50/noop':>10}"
          f"{'p99/noop':>10}   server: p50 / p99 / max ms, p99/noop")
    for name in ("noop", "kafka-avro", "messagingv2-rabbit"):
        r = results[name]
        srv = r["server"]
        print(f"{name:<22}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}"
              f"{r.get('p50_vs_noop', 1.0):>10.3f}{r.get('p99_vs_noop', 1.0):>10.3f}   "
              f"{srv['p50_ms']:.0f} / {srv['p99_ms']:.0f} / {srv['max_ms']:.0f}, "
              f"{r.get('server_p99_vs_noop', 1.0):.3f}")
    down = results["kafka-down"]
    print(f"\nKafka paused, {args.outage} downloads each (client, then uWSGI's request time):")
    for name in ("kafka-avro", "kafka-avro-queue-50"):
        r, srv = down[name], down[name]["server"]
        print(f"  {name:<22} client p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} max "
              f"{r['max_ms']:.1f} ms; server p50 {srv['p50_ms']:.0f} p99 {srv['p99_ms']:.0f} "
              f"max {srv['max_ms']:.0f} ms")
    write_result("glance_latency", {"downloads_per_round": args.downloads, "rounds": args.rounds,
                                    "image_bytes": IMAGE_BYTES, **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
