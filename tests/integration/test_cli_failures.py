"""What a user sees when something is wrong: one line on stderr and an exit code per class of
failure, never a traceback; `publish` accounts for every line it read, also when stopped."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from producers.broker import EmbeddedBroker
from producers.cli import main
from producers.config import Settings
from producers.publisher import Publisher
from tests.glance_events import glance_notifications
from tests.kafka_helpers import all_pipeline_records, read_all
from tests.processes import ROOT


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _lines(n: int) -> list[str]:
    """n image.send notifications as Glance sends them, each with its own message_id."""
    send = next(n for n in glance_notifications() if n["event_type"] == "image.send")
    return [json.dumps({**send, "message_id": f"line-{i}"}) for i in range(n)]


@pytest.mark.parametrize(("argv", "env", "code", "says"), [
    (["publish", "/no/such/file"], {}, 3, "cannot read /no/such/file: No such file or directory"),
    (["publish", "{tmp}"], {}, 3, "Is a directory"),
    (["consume", "--topic", "t", "--max", "0"], {}, 2, "argument --max: must be above 0"),
    (["consume", "--topic", "t", "--timeout", "soon"], {}, 2, "argument --timeout"),
    (["topics", "--partitions", "0"], {}, 2, "argument --partitions: must be above 0"),
    (["topics"], {"GLANCE_KAFKA_SECURITY_PROTOCOL": "carrier-pigeon"}, 2, "security_protocol"),
    (["publish", "-", "-X", "no.such.property=1"], {}, 2, "No such configuration property"),
    (["consume", "--topic", "glance.image.send", "--bootstrap-servers", "{closed}",
      "--timeout", "2"], {}, 4, "cannot reach Kafka at {closed}"),
    (["topics", "--bootstrap-servers", "{closed}", "--timeout", "2"], {}, 4,
     "cannot reach Kafka at {closed}"),
    (["publish", "{file}", "--bootstrap-servers", "{closed}", "-X", "message.timeout.ms=1000",
      "--undelivered-file", "{tmp}/left.jsonl"], {}, 4, "cannot reach Kafka at {closed}"),
    (["consume", "--topic", "glance.image.send", "--bootstrap-servers", "{broker}",
      "--timeout", "1"],
     {"GLANCE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "GLANCE_KAFKA_SASL_MECHANISM": "PLAIN",
      "GLANCE_KAFKA_SASL_USERNAME": "glance", "GLANCE_KAFKA_SASL_PASSWORD": "wrong"},
     5, "refused the connection or request: SASL"),
    (["consume", "--topic", "no.such.topic", "--bootstrap-servers", "{broker}", "--timeout", "1"],
     {}, 6, "topic no.such.topic does not exist on {broker}"),
    # Issue 17: a port outside 0-65535 was "unexpected OverflowError", exit 8.
    (["stream", "--metrics-port", "70000"], {}, 2,
     "argument --metrics-port: must be a port from 0 to 65535, got 70000"),
    (["stream", "--web-port", "65536"], {}, 2, "argument --web-port: must be a port from 0"),
    (["broker", "--port", "-1"], {}, 2, "argument --port: must be a port from 0 to 65535, got -1"),
    (["bridge", "--metrics-port", "99999"], {}, 2, "argument --metrics-port: must be a port"),
    (["demo", "--broker-port", "70000"], {}, 2, "argument --broker-port: must be a port"),
    (["demo", "--web-port", "http"], {}, 2, "argument --web-port: expected a port number"),
    # Issue 17: the RabbitMQ source ignored the Kafka source's options (and the other way round).
    (["bridge", "--transport-url", "rabbit://glance:secret@127.0.0.1:1/", "--source-topics",
      "notifications.info", "--group-id", "g"], {}, 2,
     "--source-topics, --group-id: Kafka source options, but a transport URL"),
    (["bridge", "--group-id", "g"], {"GLANCE_KAFKA_TRANSPORT_URL": "rabbit://u:p@127.0.0.1:1/"},
     2, "--group-id: Kafka source options"),
    (["bridge", "--exchange", "nova", "--bootstrap-servers", "{closed}"], {}, 2,
     "--exchange: RabbitMQ source options, which need a transport URL"),
], ids=["missing-file", "directory", "max-0", "timeout-word", "partitions-0", "bad-env",
        "bad-X", "consume-unreachable", "topics-unreachable", "publish-unreachable",
        "sasl-refused", "unknown-topic", "stream-metrics-port", "stream-web-port",
        "broker-port-negative", "bridge-metrics-port", "demo-broker-port", "demo-port-word",
        "rabbit-with-kafka-options", "rabbit-env-with-group-id", "kafka-with-rabbit-option"])
def test_each_failure_is_one_line_with_its_exit_code(
        argv: list[str], env: dict[str, str], code: int, says: str, broker: EmbeddedBroker,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        closed_address: str) -> None:
    closed = closed_address  # nothing listens there: connection refused
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(_lines(2)) + "\n")
    fill = {"{tmp}": str(tmp_path), "{closed}": closed, "{broker}": broker.bootstrap_servers,
            "{file}": str(source)}

    def filled(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    got, err = _run([filled(a) for a in argv], capsys)
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert got == code, err
    assert len(errors) == 1 and filled(says) in errors[0], err
    assert "Traceback" not in err
    assert "secret" not in err  # a transport URL's password is never shown


def test_no_traceback_unless_verbose(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "missing.jsonl"
    quiet = subprocess.run([sys.executable, "-m", "producers", "publish", str(missing)],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert quiet.returncode == 3
    assert quiet.stderr.splitlines() == [
        f"glance-kafka publish: error: cannot read {missing}: No such file or directory"]
    code, _ = _run(["publish", str(missing), "-v"], capsys)
    assert code == 3
    assert any(r.exc_info and r.exc_info[0].__name__ == "InputError" for r in caplog.records)


def test_publish_against_unreachable_kafka_says_so_once_and_stops_on_sigterm(
        settings: Settings, tmp_path: Path, closed_address: str) -> None:
    """One line about the outage (not four a second), SIGTERM honoured within the grace period,
    every line read accounted for, and the undelivered ones replayable from the named file."""
    sent = _lines(4) + ["not json"]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(sent) + "\n")
    left = tmp_path / "left.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "producers", "publish", str(source), "--bootstrap-servers",
         closed_address, "--topic-prefix", settings.topic_prefix, "--grace", "1",
         "--undelivered-file", str(left)],
        stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = process.stderr.readline()
        assert "cannot reach Kafka" in first and "retrying" in first, first
        time.sleep(2)  # librdkafka retries ~4 times a second meanwhile
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        rest = process.communicate(timeout=30)[1]
        stopped_after = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = rest.splitlines()
    assert process.returncode == 4, rest
    assert stopped_after < 1 + 3, stopped_after  # the grace, and time to write the file
    assert "retrying" not in rest  # said once, above
    assert len(lines) <= 4, rest  # "stopping...", one folded delivery error, summary, error
    assert "read 5, delivered 0, dead-lettered 0, not delivered 5 (stopped by SIGTERM)" in rest
    assert f"their lines are in {left}" in lines[-1]
    assert left.read_text().splitlines() == sent

    # The file publishes as it is once Kafka is back, and then everything has arrived.
    assert main(["publish", str(left), "--bootstrap-servers", settings.bootstrap_servers,
                 "--topic-prefix", settings.topic_prefix]) == 0
    records = all_pipeline_records(settings)
    assert len(records[settings.topic("image.send")]) == 4
    assert [m.value() for m in records[settings.dlq_topic]] == [b"not json"]


def test_consume_of_a_pipeline_topic_not_created_yet_waits_for_it(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    topic = settings.topic("image.send")
    common = ["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix",
              settings.topic_prefix]
    # Not created yet: empty, so it ends after --timeout, as an empty topic does.
    assert main(["consume", "--topic", topic, "--timeout", "1", *common]) == 0
    assert capsys.readouterr() == ("", "")

    process = subprocess.Popen(
        [sys.executable, "-m", "producers", "consume", "--topic", topic, "--timeout", "3", "-v",
         *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # Watching, and the topic does not exist yet (-v says so).
        said = [process.stderr.readline() for _ in range(1)]
        while "does not exist yet" not in said[-1]:
            assert said[-1] and len(said) < 50, said
            said.append(process.stderr.readline())
        assert read_all(settings, topic, idle=0.5) == [] and process.poll() is None
        with Publisher(settings) as publisher:
            for line in _lines(3):
                publisher.publish(line)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert sorted(json.loads(line)["message_id"] for line in out.splitlines()) == [
        "line-0", "line-1", "line-2"]


def _publish_from_stdin(settings: Settings, stderr: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "producers", "publish", "-", "--bootstrap-servers",
         settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix],
        stdin=subprocess.PIPE, stderr=stderr, cwd=ROOT, env={**os.environ, "TERM": "xterm"})


def test_publish_shows_progress_on_a_terminal_and_nothing_when_not_on_one(
        settings: Settings) -> None:
    lines = (_lines(150) + ["not json"] * 7)
    payload = ("\n".join(lines) + "\n").encode()

    master, slave = pty.openpty()
    process = _publish_from_stdin(settings, slave)
    os.close(slave)
    seen = b""
    try:
        process.stdin.write(payload)
        process.stdin.flush()
        # While the input is still open (the run is not over), the terminal shows the counts.
        deadline = time.monotonic() + 60
        while b"157 read" not in seen or b"150 delivered, 7 dead-lettered" not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
        assert b"records/s" in seen and process.poll() is None
        process.stdin.close()
        process.wait(timeout=60)
        while select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert process.returncode == 0, seen
    assert seen.rstrip().endswith(
        b"read 157, delivered 150, dead-lettered 7 (not_json=7) to "
        + settings.dlq_topic.encode() + b", not delivered 0"), seen

    quiet = _publish_from_stdin(settings, subprocess.PIPE)
    _, err = quiet.communicate(payload, timeout=60)
    assert quiet.returncode == 0
    assert err.decode().splitlines() == [
        f"read 157, delivered 150, dead-lettered 7 (not_json=7) to {settings.dlq_topic}, "
        "not delivered 0"]
