"""Aggregation throughput: our stream worker against the alternatives, on a pre-loaded backlog.

    .venv/bin/python bench/aggregate.py [--n 300000] [--skip-quix] [--profile]

The backlog: --n simulated notifications (realistic mix) plus ~1% re-deliveries (same
message_id), published through the library. Rows, in events (records) per second:

* worker: a real `glance-kafka stream` subprocess (decode, dedupe, exact idempotent rows,
  changelog), measured from its own /metrics (notifications + duplicates skipped) between the
  first scrape that shows progress and the one that shows the whole backlog; its totals are then
  checked against the simulator's ground truth.
* bare aiokafka: one aiokafka consumer (partitions assigned, no group), fastavro decode, the same
  sums and message_id dedupe in a dict: the ceiling in Python.
* naive Faust: one agent, `table[key] += amount` per sum per event (bench/_faust_naive.py), and the
  same agent doing nothing but decode (--no-table); each measured over a window from its output.
* Quix Streams: the same sums in a dict, one StreamingDataFrame per topic (bench/_quix_sums.py),
  in its own venv bench/.venv-quix (created on first use: Quix pins confluent-kafka < 2.13).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    Timer,
    broker,
    free_port,
    http_get,
    rate,
    settings_for,
    show,
    simulated,
    start_worker,
    stop_pid,
    write_result,
)

from producers.config import Settings
from producers.publisher import Publisher
from producers.serde import AvroCodec
from producers.topics import event_topics
from streams.demo.simulator import inject_duplicates
from streams.exposition import parse_metrics
from streams.rowplan import Plans

QUIX_VENV = ROOT / "bench" / ".venv-quix"
PROGRESS = re.compile(r"(\d+) (\d+\.\d+)\s*$")


def source_topics(settings: Settings) -> list[str]:
    return list(event_topics(settings).values())


def preload(settings: Settings, n: int) -> tuple[int, int, Any]:
    notifications, truth = simulated(n)
    stream = inject_duplicates(notifications, 0.01, random.Random(5))
    with Timer() as t, Publisher(settings) as publisher:
        for x in stream:
            publisher.publish(x)
    print(f"  published {len(stream):,} records ({len(stream) - n:,} re-deliveries) in "
          f"{t.seconds:.1f}s", flush=True)
    return len(stream), len(stream) - n, truth


# -- our worker ---------------------------------------------------------------------------------

def processed(metrics: dict[str, dict[Any, float]]) -> float:
    return (sum(metrics.get("glance_notifications_total", {}).values())
            + sum(metrics.get("glance_duplicates_skipped_total", {}).values()))


def run_worker(settings: Settings, total: int, log_dir: Path, profile: bool,
               timeout: float = 240.0) -> dict[str, Any]:
    started = time.monotonic()
    process, url = start_worker(settings, log_dir / "worker.log")
    samples: list[tuple[float, float]] = []
    metrics: dict[str, dict[Any, float]] = {}
    spy: subprocess.Popen[bytes] | None = None
    try:
        deadline = started + timeout
        while time.monotonic() < deadline and process.poll() is None:
            status, text = http_get(f"{url}/metrics")
            if status == 200:
                metrics = parse_metrics(text)
                count = processed(metrics)
                samples.append((time.monotonic(), count))
                if count >= total:
                    break
                if profile and spy is None and count > 0:
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                         str(process.pid), "-d", "10", "-f", "raw", "--nonblocking", "--threads",
                         "--idle", "-o", str(log_dir / "worker.folded")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.2)
        else:
            raise SystemExit(f"worker did not finish the backlog; see {log_dir / 'worker.log'}")
    finally:
        if spy is not None:
            spy.wait(timeout=30)
        stop_pid(process)
    moving = [s for s in samples if s[1] > 0]
    (t0, c0), (t1, c1) = moving[0], moving[-1]
    out = {"events_per_s": rate(int(c1 - c0), t1 - t0), "wall_s_from_start": t1 - started,
           "metrics": metrics, "rss_note": None}
    if profile:
        out["profile"] = summarise_folded(log_dir / "worker.folded")
    return out


def summarise_folded(path: Path, top: int = 30) -> str:
    """py-spy's raw (folded) samples of the main thread: share of samples per frame, inclusive."""
    if not path.exists():
        return "(no profile: py-spy did not run; pip install -e '.[bench]')"
    inclusive: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            continue
        total += int(count)
        for frame in set(frames[1:]):
            inclusive[frame] += int(count)
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join([f"main thread, {total} samples (idle included), inclusive:"]
                     + [f"  {100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in ranked])


def check_totals(metrics: dict[str, dict[Any, float]], truth: Any, duplicates: int) -> list[str]:
    """Differences between the worker's /metrics and the simulator's ground truth."""
    wanted = {
        "glance_image_served_bytes_total": ({(("outcome", o), ("project", p)): v for (p, o), v in
                                             truth.served_bytes.items()}),
        "glance_image_downloaded_bytes_total": ({(("outcome", o), ("project", p)): v for (p, o), v
                                                 in truth.downloaded_bytes.items()}),
        "glance_image_downloads_total": {(("outcome", o),): v for o, v in truth.downloads.items()},
        "glance_notifications_total": {(("event_type", e), ("priority", p)): v
                                       for (e, p), v in truth.notifications.items()},
        "glance_task_failures_total": {(("project", p), ("task_type", t)): v
                                       for (t, p), v in truth.task_failures.items()},
        "glance_duplicates_skipped_total": {(): duplicates},
    }
    problems = []
    for name, expected in wanted.items():
        got = {k: v for k, v in metrics.get(name, {}).items() if v}
        expected = {k: float(v) for k, v in expected.items() if v}
        if got != expected:
            diff = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                    if got.get(k) != expected.get(k)}
            problems.append(f"{name}: {len(diff)} series differ, e.g. {list(diff.items())[:2]}")
    return problems


# -- bare aiokafka ------------------------------------------------------------------------------

async def _bare(settings: Settings, total: int) -> tuple[float, dict[tuple[str, ...], int]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    codec = AvroCodec(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in source_topics(settings) for p in range(4)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        sums: dict[str, int] = defaultdict(int)
        plans = Plans()  # the worker's rule table, compiled
        seen: set[str] = set()
        count = 0
        start = time.perf_counter()
        while count < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                for msg in records:
                    record, _ = codec.decode_record(msg.value)
                    count += 1
                    if record["message_id"] in seen:
                        sums["duplicates"] += 1
                        continue
                    seen.add(record["message_id"])
                    event_type = record["event_type"]
                    keys, amounts = plans.for_event(event_type)(msg, record, event_type, "")
                    for key, amount in zip(keys, amounts, strict=True):
                        sums[key] += amount
        return rate(count, time.perf_counter() - start), sums
    finally:
        await consumer.stop()


# -- subprocess baselines -----------------------------------------------------------------------

def windowed_rate(cmd: list[str], total: int, window: float, log_path: Path,
                  start_timeout: float = 60.0, env: dict[str, str] | None = None) -> float:
    """Rate from a child printing "<count> <monotonic>" lines: over `window` seconds after its
    first progress, or until it has the whole backlog."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, cwd=ROOT, env=env)
    samples: list[tuple[float, int]] = []
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.decode(errors="replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + start_timeout
    seen = 0
    try:
        while time.monotonic() < deadline and process.poll() is None:
            for line in lines[seen:]:
                match = PROGRESS.search(line)  # Faust's spinner escapes may precede it
                if match:
                    samples.append((float(match[2]), int(match[1])))
            seen = len(lines)
            moving = [s for s in samples if s[1] > 0]
            if moving:
                deadline = max(deadline, moving[0][0] + window + 1)
                if moving[-1][0] - moving[0][0] >= window or moving[-1][1] >= total:
                    break
            time.sleep(0.1)
    finally:
        stop_pid(process)
        log.close()
    moving = [s for s in samples if s[1] > 0]
    if len(moving) < 2:
        raise SystemExit(f"{cmd[1]} made no progress; see {log_path}")
    (t0, c0), (t1, c1) = moving[0], moving[-1]
    return rate(c1 - c0, t1 - t0)


def quix_python() -> Path | None:
    python = QUIX_VENV / "bin" / "python"
    if not python.exists():
        print("  creating bench/.venv-quix (quixstreams, fastavro) ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "quixstreams", "fastavro"],
                           check=True)
        except subprocess.CalledProcessError as exc:
            print(f"  cannot install Quix Streams: {exc}")
            return None
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="notifications in the backlog")
    parser.add_argument("--window", type=float, default=10.0,
                        help="seconds the slow baselines are measured for")
    parser.add_argument("--skip-quix", action="store_true")
    parser.add_argument("--worker-only", action="store_true", help="no baselines (profiling)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the worker with py-spy for 10 s and print where its time goes")
    args = parser.parse_args()
    r: dict[str, float] = {}
    with broker() as b, tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        settings = settings_for(b)
        print(f"pre-loading {args.n:,} notifications ...", flush=True)
        total, duplicates, truth = preload(settings, args.n)

        print("our worker ...", flush=True)
        worker = run_worker(settings, total, log_dir, args.profile)
        r["worker"] = worker["events_per_s"]
        problems = check_totals(worker["metrics"], truth, duplicates)
        print(f"  {r['worker']:,.0f} events/s; totals {'exact' if not problems else 'WRONG'}; "
              f"backlog done {worker['wall_s_from_start']:.1f}s after start", flush=True)

        if args.worker_only:
            if args.profile:
                print(worker["profile"])
            return 1 if problems else 0
        print("bare aiokafka loop ...", flush=True)
        r["bare_aiokafka"], sums = asyncio.run(_bare(settings, total))
        print(f"  {r['bare_aiokafka']:,.0f} events/s", flush=True)
        bare_ok = sums["duplicates"] == duplicates

        print("naive Faust agents ...", flush=True)
        naive = [sys.executable, str(ROOT / "bench" / "_faust_naive.py"), b.bootstrap_servers,
                 settings.topic_prefix, str(free_port())]
        r["faust_naive_table"] = windowed_rate(naive, total, args.window, log_dir / "naive.log")
        naive[-1] = str(free_port())
        r["faust_naive_no_table"] = windowed_rate([*naive, "--no-table"], total, args.window,
                                                  log_dir / "naive-nt.log")

        if not args.skip_quix and (python := quix_python()) is not None:
            print("Quix Streams ...", flush=True)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            r["quixstreams"] = windowed_rate(
                [str(python), str(ROOT / "bench" / "_quix_sums.py"), b.bootstrap_servers,
                 settings.topic_prefix, str(log_dir / "quix-state")], total, args.window,
                log_dir / "quix.log", env=env)
        if args.profile:
            print(worker["profile"])

    ratios = {"worker / bare aiokafka": r["worker"] / r["bare_aiokafka"],
              "worker / faust naive (table)": r["worker"] / r["faust_naive_table"],
              "worker / faust naive (no table)": r["worker"] / r["faust_naive_no_table"]}
    if "quixstreams" in r:
        ratios["worker / quixstreams"] = r["worker"] / r["quixstreams"]
    print(f"\nevents/s ({total:,} records: {args.n:,} notifications + {duplicates:,} re-deliveries):")
    show([
        ("glance-kafka stream worker", r["worker"],
         "decode + dedupe + exact rows + changelog; totals "
         + ("exact" if not problems else "WRONG")),
        ("bare aiokafka + fastavro + dict", r["bare_aiokafka"],
         "ceiling in Python" + ("" if bare_ok else " (duplicate count off!)")),
        ("naive Faust agent, table += per event", r["faust_naive_table"], f"{args.window:g}s window"),
        ("naive Faust agent, decode only", r["faust_naive_no_table"], f"{args.window:g}s window"),
        *([("Quix Streams, sums in a dict", r["quixstreams"], "")] if "quixstreams" in r else []),
    ])
    print("\nratios:")
    for name, value in ratios.items():
        print(f"  {name:<34} {value:6.2f}")
    print(f"  worker target >= 50,000 events/s and >= 1/3 of bare: "
          f"{'met' if r['worker'] >= 50_000 and ratios['worker / bare aiokafka'] >= 1 / 3 else 'NOT met'}")
    for problem in problems:
        print(f"  TOTALS DIFFER: {problem}")
    write_result("aggregate", {
        "n": args.n, "records": total, "duplicates": duplicates, "rates_per_s": r,
        "ratios": ratios, "totals_exact": not problems, "problems": problems,
        "worker_wall_s_from_start": worker["wall_s_from_start"], "profile": worker.get("profile")})
    return 1 if problems else 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f}s)")
    sys.exit(code)
