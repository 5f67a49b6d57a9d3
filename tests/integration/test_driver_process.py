"""The driver inside a Glance process: one producer per process, a bounded wait per request, one
bounded flush at exit, and refusals counted and reported rather than dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from producers.config import Settings
from tests.kafka_helpers import all_pipeline_records
from tests.processes import wait_stable

ROOT = Path(__file__).resolve().parents[2]

#: A Glance-like process: builds `notifiers` glance.notifier.Notifier-style oslo Notifiers per
#: configuration (`configs` topic prefixes), sends `count` image.send through each, reports how
#: many librdkafka producers the process holds (threads named rdk:main), then exits (atexit).
_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import oslo_messaging
    from oslo_config import cfg
    from producers import driver as kd
    from tests.rdk_threads import rdk_main_threads

    args = json.loads(sys.argv[1])
    notifiers = []
    for prefix in args["prefixes"]:
        conf = cfg.ConfigOpts()
        transport = oslo_messaging.get_notification_transport(conf, url="fake:")
        conf.register_opts(kd.OPTS, group=kd.GROUP)
        conf.set_override("bootstrap_servers", args["bootstrap"], group=kd.GROUP)
        conf.set_override("topic_prefix", prefix, group=kd.GROUP)
        for name, value in args.get("options", {}).items():
            conf.set_override(name, value, group=kd.GROUP)
        for _ in range(args["notifiers"]):
            notifiers.append(oslo_messaging.Notifier(
                transport, publisher_id="image.localhost", driver="kafka-avro",
                topics=["notifications"]))
    waits = []
    for i in range(args["count"]):
        for n, notifier in enumerate(notifiers):
            started = time.monotonic()
            notifier.info({}, "image.send", {"image_id": f"img-{n}-{i}", "owner_id": "o",
                                             "bytes_sent": 1, "receiver_tenant_id": "r",
                                             "receiver_user_id": "u"})
            waits.append(time.monotonic() - started)
    print(json.dumps({"producers": rdk_main_threads(), "shared": len(kd.shared_publishers()),
                      "refused": kd.refused_count(), "first_wait": waits[0] if waits else 0,
                      "max_wait": max(waits, default=0),
                      "waited_the_bound": sum(w > 0.45 for w in waits[1:]),
                      "exiting_at": time.time()}), flush=True)
""")


def _run(tmp_path: Path, args: dict, timeout: float = 60) -> tuple[dict, str, float]:
    """The script's report, its stderr, and the seconds from its last line to its exit."""
    script = tmp_path / "glance_like.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(script), json.dumps(args)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    exited = time.time()
    assert process.returncode == 0, err[-3000:]
    report = json.loads(out.splitlines()[-1])
    return report, err, exited - report["exiting_at"]


def test_every_notifier_in_a_process_shares_one_producer(settings: Settings, tmp_path: Path
                                                         ) -> None:
    report, err, exit_seconds = _run(tmp_path, {"bootstrap": settings.bootstrap_servers, "notifiers": 25,
                                     "count": 4, "prefixes": [settings.topic_prefix]})
    assert report["producers"] == 1 and report["shared"] == 1, report
    records = all_pipeline_records(settings)
    ids = sorted(m.key() for m in records[settings.topic("image.send")])
    assert len(ids) == 25 * 4 == len(set(ids))  # each notifier's each send, once
    assert not records[settings.dlq_topic]


def test_with_kafka_unreachable_a_request_waits_at_most_the_bound_and_refusals_are_counted(
        tmp_path: Path, closed_address: str) -> None:
    """Queue room for 20 records, a dead address: the 21st and later are refused. The first
    refusal waits buffer_full_timeout (0.5 s); while the queue stays full the rest do not wait.
    Reported in one log line with the count; at exit, the 20 queued are logged as a count."""
    dead = closed_address
    report, err, exit_seconds = _run(tmp_path, {
        "bootstrap": dead, "notifiers": 3, "count": 20, "prefixes": ["dead.glance."],
        "options": {"librdkafka": {"queue.buffering.max.messages": "20"},
                    "flush_timeout": 2.0}})
    sent = 3 * 20
    assert report["producers"] == 1
    assert report["refused"] == sent - 20
    assert report["max_wait"] < 0.5 + 0.4, report
    # The first refusal waited the bound; no other request did (the very first one, which makes
    # the process's producer and codec, is left out of the count and bounded by max_wait).
    assert report["waited_the_bound"] == 1, report
    refusal_lines = [line for line in err.splitlines() if "glance-kafka refused" in line]
    assert len(refusal_lines) == 1 and "refused 1 " in refusal_lines[0], err[-2000:]
    exit_lines = [line for line in err.splitlines() if "not delivered to Kafka at exit" in line]
    assert len(exit_lines) == 1 and "20 notification(s)" in exit_lines[0], err[-2000:]
    assert "Traceback" not in err
    assert exit_seconds < 2.0 + 3, exit_seconds  # one 2 s flush, then the interpreter's exit


def test_exit_flush_is_bounded_in_total_not_per_producer(tmp_path: Path,
                                                         closed_address: str) -> None:
    """Four configurations (four producers) with notifications queued for an unreachable Kafka
    and flush_timeout = 3 s: the process exits after ~3 s, not 4 x 3 s, and says once how many
    notifications were not delivered."""
    dead = closed_address
    prefixes = [f"p{i}.glance." for i in range(4)]
    report, err, exit_seconds = _run(tmp_path, {"bootstrap": dead, "notifiers": 2, "count": 5,
                                     "prefixes": prefixes, "options": {"flush_timeout": 3.0}})
    assert report["producers"] == 4 and report["refused"] == 0
    exit_lines = [line for line in err.splitlines() if "not delivered to Kafka at exit" in line]
    assert len(exit_lines) == 1 and f"{4 * 2 * 5} notification(s)" in exit_lines[0], err[-2000:]
    assert 3.0 <= exit_seconds < 3.0 + 3, exit_seconds


@pytest.mark.parametrize("children", [2])
def test_forked_children_each_make_one_producer(settings: Settings, tmp_path: Path,
                                                children: int) -> None:
    """A pre-forking server (uWSGI): the parent notified before forking; each child, through many
    notifiers, holds exactly one producer of its own and delivers everything it sent."""
    script = tmp_path / "prefork.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        import oslo_messaging
        from oslo_config import cfg
        from producers import driver as kd
        from tests.rdk_threads import rdk_main_threads

        def notifier():
            conf = cfg.ConfigOpts()
            transport = oslo_messaging.get_notification_transport(conf, url="fake:")
            conf.register_opts(kd.OPTS, group=kd.GROUP)
            conf.set_override("bootstrap_servers", {settings.bootstrap_servers!r}, group=kd.GROUP)
            conf.set_override("topic_prefix", {settings.topic_prefix!r}, group=kd.GROUP)
            return oslo_messaging.Notifier(transport, publisher_id="image.localhost",
                                           driver="kafka-avro", topics=["notifications"])

        def send(n, who):
            n.info({{}}, "image.send", {{"image_id": who, "owner_id": "o", "bytes_sent": 1,
                                        "receiver_tenant_id": "r", "receiver_user_id": "u"}})

        send(notifier(), "parent")
        pids = []
        for c in range({children}):
            pid = os.fork()
            if pid == 0:
                for i in range(10):
                    send(notifier(), f"child{{c}}-{{i}}")
                # one write per line: the children share the pipe
                os.write(1, (json.dumps({{"child": c, "producers": rdk_main_threads(),
                                          "shared": len(kd.shared_publishers())}}) + "\\n").encode())
                sys.exit(0)
            pids.append(pid)
        # a child that failed fails the script (its traceback is on the shared stderr)
        statuses = [os.waitpid(pid, 0)[1] for pid in pids]
        sys.exit(1 if any(statuses) else 0)
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(reports) == children, (reports, done.stderr[-3000:])
    assert all(r["producers"] == 1 and r["shared"] == 1 for r in reports), reports
    expected = sorted(["parent"] + [f"child{c}-{i}" for c in range(children) for i in range(10)])

    def keys() -> list[str]:
        records = all_pipeline_records(settings)
        return sorted(m.key().decode() for m in records[settings.topic("image.send")])
    # delivered means on the topic, but a loaded session broker may serve the last of it late
    got = wait_stable(keys, lambda k: len(k) >= len(expected), 30, "every child's records",
                      quiet=1.0)
    assert got == expected, (sorted(set(expected) - set(got)), done.stderr[-3000:])
