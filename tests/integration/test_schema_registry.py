"""Registry mode (`--schema-registry-url`) end to end on the embedded broker, against a small
HTTP endpoint that answers the Confluent Schema Registry REST calls the client makes and records
them. No registry server installs here: this checks the calls and the framing, not a real
registry's behaviour (compatibility rules, auth, ...)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from producers.config import Settings
from producers.contract import default_contract
from tests.glance_events import seed_notifications
from tests.integration.test_stream_exactness import synthetic_events
from tests.kafka_helpers import all_pipeline_records, same_notification
from tests.processes import ROOT

#: Far from the manifest's ids (101-116): a record framed with one came through the registry.
FIRST_ID = 9001


class RecordingRegistry:
    """POST /subjects/{subject}/versions -> {"id": N} (one id per distinct schema, as Confluent
    gives), GET /schemas/ids/{id} -> {"schema": text}; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict | None]] = []
        self.ids: dict[str, int] = {}  # schema text -> id
        self.subjects: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                registry.requests.append(("POST", self.path, body))
                parts = urlsplit(self.path).path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
                    with registry._lock:
                        schema_id = registry.ids.setdefault(body["schema"],
                                                            FIRST_ID + len(registry.ids))
                        registry.subjects.setdefault(unquote(parts[1]), set()).add(schema_id)
                    self._reply(200, {"id": schema_id})
                else:
                    self._reply(404, {"error_code": 404, "message": "not found"})

            def do_GET(self) -> None:  # noqa: N802
                registry.requests.append(("GET", self.path, None))
                parts = urlsplit(self.path).path.strip("/").split("/")
                by_id = {i: text for text, i in registry.ids.items()}
                if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and int(parts[2]) in by_id:
                    self._reply(200, {"schema": by_id[int(parts[2])]})
                else:
                    self._reply(404, {"error_code": 40403, "message": "Schema not found"})

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self, method: str) -> list[str]:
        return [urlsplit(path).path for m, path, _ in self.requests if m == method]


@pytest.fixture
def registry() -> Iterator[RecordingRegistry]:
    running = RecordingRegistry()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()
    thread.join(10)


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "producers", *args], cwd=ROOT, input=stdin,
                          capture_output=True, timeout=120)


def test_publish_and_consume_through_a_schema_registry(settings: Settings,
                                                       registry: RecordingRegistry,
                                                       tmp_path: Path) -> None:
    sent = synthetic_events(200, seed=41) + seed_notifications()
    lines = tmp_path / "sent.jsonl"
    lines.write_text("".join(json.dumps(n) + "\n" for n in sent))
    common = ["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix",
              settings.topic_prefix, "--schema-registry-url", registry.url]
    published = _cli("publish", *common, "--strict", str(lines))
    assert published.returncode == 0, published.stderr.decode()[-2000:]

    contract = default_contract()
    topics = {settings.topic(contract.topic_suffix(n["event_type"])) for n in sent}
    # one registration per topic used, under <topic>-value, with the contract's schema text
    posts = [(urlsplit(path), body) for m, path, body in registry.requests if m == "POST"]
    assert sorted(unquote(url.path) for url, _ in posts) == sorted(
        f"/subjects/{t}-value/versions" for t in topics)
    assert {url.query for url, _ in posts} == {"normalize=False"}
    for url, body in posts:
        topic = unquote(url.path).split("/")[2].removesuffix("-value")
        suffix = topic.removeprefix(settings.topic_prefix)
        schema = contract.latest(suffix)  # "other": the catch-all
        assert json.loads(body["schema"]) == json.loads(schema.schema_str), topic
        assert body.get("schemaType", "AVRO") == "AVRO"
    # every record is framed with the id the registry gave its topic's subject
    by_topic = all_pipeline_records(settings)
    for topic in topics:
        (schema_id,) = registry.subjects[f"{topic}-value"]
        records = by_topic[topic]
        assert records and all(m.value()[:5] == b"\x00" + schema_id.to_bytes(4, "big")
                                for m in records), topic

    consumed = _cli("consume", *common, "--from-beginning", "--timeout", "2",
                    *[arg for t in sorted(topics) for arg in ("--topic", t)])
    assert consumed.returncode == 0, consumed.stderr.decode()[-2000:]
    decoded = {(n := json.loads(line))["message_id"]: n
               for line in consumed.stdout.decode().splitlines()}
    assert len(decoded) == len(sent)
    assert all(same_notification(decoded[n["message_id"]], n) for n in sent)
    # the consumer, a fresh process, looked each writer schema up by id
    assert sorted(set(registry.paths("GET"))) == sorted(
        f"/schemas/ids/{i}" for i in registry.ids.values())
