"""The traffic simulator: real Glance shapes, codec-clean, deterministic, and honest ground truth."""

from __future__ import annotations

import ipaddress
import json
import random
import re
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest

from producers.config import Settings
from producers.exceptions import InvalidNotification
from producers.serde import AvroCodec
from streams.demo.simulator import (
    MALFORMED_KINDS,
    CloudModel,
    TrafficGenerator,
    TrafficMix,
    inject_duplicates,
    inject_malformed,
    malformed_samples,
)
from streams.metric_names import METRICS
from tests.glance_events import glance_notifications

N_EVENTS = 20_000
ENVELOPE_KEYS = ["message_id", "publisher_id", "event_type", "priority", "payload", "timestamp"]
IMAGE_KEYS = {"id", "name", "status", "created_at", "updated_at", "min_disk", "min_ram", "protected",
              "checksum", "owner", "disk_format", "container_format", "size", "virtual_size",
              "is_public", "visibility", "properties", "tags", "deleted", "deleted_at"}
IMAGE_EVENTS = {"image.create", "image.prepare", "image.upload", "image.activate", "image.update",
                "image.delete"}
LIFECYCLE = ["image.create", "image.prepare", "image.upload", "image.activate"]
ENVELOPE_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$")
PAYLOAD_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                              "2001:db8::/32")]


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(Settings(bootstrap_servers="127.0.0.1:1"))


@pytest.fixture(scope="module")
def run() -> tuple[TrafficGenerator, list[dict[str, Any]]]:
    gen = TrafficGenerator(seed=7)
    return gen, gen.next_batch(N_EVENTS)


# --------------------------------------------------------------------------- independent recount


def nest(counter: Counter[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in counter.items():
        if isinstance(key, tuple):
            out.setdefault(key[0], {})[key[1]] = value
        else:
            out[key] = value
    return out


def recount(notifications: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics, recomputed from the notifications alone, counting each message_id once."""
    seen: set[str] = set()
    served, downloaded, downloads = Counter(), Counter(), Counter()
    task_events, task_failures, by_type = Counter(), Counter(), Counter()
    upload_failures = 0
    images: dict[str, dict[str, Any]] = {}
    for n in notifications:
        if n["message_id"] in seen:
            continue
        seen.add(n["message_id"])
        event_type, priority, payload = n["event_type"], n["priority"], n["payload"]
        by_type[(event_type, priority)] += 1
        if event_type == "image.send":
            outcome = "partial" if priority == "ERROR" else "complete"
            served[(payload["owner_id"], outcome)] += payload["bytes_sent"]
            downloaded[(payload["receiver_tenant_id"], outcome)] += payload["bytes_sent"]
            downloads[outcome] += 1
        elif event_type.startswith("task."):
            task_events[(payload["type"], payload["status"])] += 1
            if event_type == "task.failure":
                task_failures[(payload["type"], payload["owner"])] += 1
        elif event_type == "image.upload" and priority == "ERROR":
            upload_failures += 1
        if event_type in IMAGE_EVENTS and isinstance(payload, dict):
            images[payload["id"]] = payload
    per_status, stored, stored_fmt = Counter(), Counter(), Counter()
    for image in images.values():
        per_status[(image["owner"], image["status"])] += 1
        if not image["deleted"] and image["size"] is not None:
            stored[image["owner"]] += image["size"]
            stored_fmt[(image["owner"], image["disk_format"])] += image["size"]
    return {
        "glance_image_served_bytes_total": nest(served),
        "glance_image_downloaded_bytes_total": nest(downloaded),
        "glance_image_downloads_total": nest(downloads),
        "glance_task_events_total": nest(task_events),
        "glance_task_failures_total": nest(task_failures),
        "glance_notifications_total": nest(by_type),
        "glance_project_images": nest(per_status),
        "glance_project_stored_bytes": nest(stored),
        "glance_project_stored_bytes_by_disk_format": nest(stored_fmt),
        "upload_failures": upload_failures,
    }


def truth_of(gen: TrafficGenerator) -> dict[str, Any]:
    truth = gen.truth.as_dict()
    truth["upload_failures"] = sum(truth.pop("glance_image_upload_failures_total").values())
    return truth


# --------------------------------------------------------------------------- tests


def test_same_seed_same_notifications_and_truth() -> None:
    a, b = TrafficGenerator(seed=42), TrafficGenerator(seed=42)
    first = a.next_batch(3000)
    # Batch boundaries don't matter: 1000 + 2000 is the same stream as 3000 at once.
    second = b.next_batch(1000) + b.next_batch(2000)
    assert json.dumps(first) == json.dumps(second)
    assert a.truth.as_dict() == b.truth.as_dict()
    other = TrafficGenerator(seed=43).next_batch(3000)
    assert [n["message_id"] for n in other] != [n["message_id"] for n in first]


def test_model_is_deterministic_and_keystone_like() -> None:
    m1, m2 = CloudModel.generate(5, projects=8), CloudModel.generate(5, projects=8)
    assert m1 == m2
    assert len(m1.projects) == 8
    assert all(re.fullmatch(r"[0-9a-f]{32}", p.id) for p in m1.projects)
    assert all(re.fullmatch(r"[0-9a-f]{32}", u) for p in m1.projects for u in p.users)
    sizes = [image.size for image in m1.public_images]
    assert min(sizes) < 20 * 1024**2 and max(sizes) >= 20 * 1024**3 - 1
    assert sum(size > 2**31 for size in sizes) >= 2
    assert all(uuid.UUID(image.id).version == 4 for image in m1.images)
    gen = TrafficGenerator(model=m1)
    gen.next_batch(5000)
    assert m1 == m2  # the generator works on its own copy of the catalogue


def test_envelopes_and_payload_shapes_are_glance_33s(run: Any) -> None:
    _, notifications = run
    # Payload key sets Glance 33 really sends, per (event_type, priority); "str" for text payloads.
    real: dict[tuple[str, str], set[Any]] = defaultdict(set)
    for n in glance_notifications():
        payload = n["payload"]
        real[(n["event_type"], n["priority"])].add(
            "str" if isinstance(payload, str) else frozenset(payload))
    real[("image.send", "ERROR")] |= {frozenset(p) for p in real[("image.send", "INFO")]}
    seen_types = set()
    last = None
    for n in notifications:
        assert list(n) == ENVELOPE_KEYS
        assert uuid.UUID(n["message_id"]).version == 4
        assert n["publisher_id"].startswith("image.")
        assert ENVELOPE_TS.match(n["timestamp"]), n["timestamp"]
        stamp = datetime.fromisoformat(n["timestamp"])
        assert str(stamp) == n["timestamp"]
        assert last is None or stamp >= last
        last = stamp
        payload = n["payload"]
        key = (n["event_type"], n["priority"])
        seen_types.add(key)
        shape = "str" if isinstance(payload, str) else frozenset(payload)
        assert shape in real[key], (key, shape)
        if n["event_type"] in IMAGE_EVENTS and isinstance(payload, dict):
            assert set(payload) >= IMAGE_KEYS
            for name in ("created_at", "updated_at"):
                assert PAYLOAD_TS.match(payload[name])
            assert payload["deleted"] == (n["event_type"] == "image.delete")
            assert (payload["deleted_at"] is not None) == payload["deleted"]
        if n["event_type"].startswith("task."):
            assert n["priority"] == "INFO"
            assert payload["result"] is None and payload["message"] is None
            for name in ("expires_at", "created_at", "updated_at"):
                assert PAYLOAD_TS.match(payload[name])
    assert {("image.send", "ERROR"), ("image.upload", "ERROR"), ("task.failure", "INFO"),
            ("image.delete", "INFO"), ("image.member.create", "INFO")} <= seen_types


def test_every_notification_encodes_and_round_trips(codec: AvroCodec, run: Any) -> None:
    _, notifications = run
    topics = Counter()
    for n in notifications:
        encoded = codec.encode(n)
        topics[encoded.topic.rsplit(".", 1)[-1]] += 1
        assert codec.decode(encoded.value) == n
    assert topics["other"] > 0  # image.member.create lands on the catch-all topic


def test_ground_truth_matches_an_independent_recount(run: Any) -> None:
    gen, notifications = run
    assert truth_of(gen) == recount(notifications)
    assert gen.truth.upload_failures_total > 0
    assert sum(gen.truth.notifications.values()) == len(notifications)
    json.dumps(gen.truth.as_dict())
    assert set(gen.truth.as_dict()) <= set(METRICS)


def test_ground_truth_without_bootstrap_and_with_a_busier_mix() -> None:
    mix = TrafficMix(download=0.5, upload=0.2, image_import=0.15, delete=0.1, member=0.05,
                     upload_failure_rate=0.2, task_failure_rate=0.3)
    gen = TrafficGenerator(seed=3, projects=5, images=2, mix=mix, bootstrap=False)
    notifications = gen.next_batch(5000)
    assert truth_of(gen) == recount(notifications)


def test_popularity_is_skewed(run: Any) -> None:
    _, notifications = run
    per_image = Counter(n["payload"]["image_id"] for n in notifications if n["event_type"] == "image.send")
    total = sum(per_image.values())
    assert total > 0.8 * N_EVENTS * 0.9
    top3 = sum(count for _, count in per_image.most_common(3))
    assert top3 / total > 0.40


def test_partial_transfers_and_cache_path(run: Any) -> None:
    _, notifications = run
    sizes = {n["payload"]["id"]: n["payload"]["size"] for n in notifications
             if n["event_type"] == "image.upload" and n["priority"] == "INFO"}
    sends = [n for n in notifications if n["event_type"] == "image.send"]
    partial = [n for n in sends if n["priority"] == "ERROR"]
    assert 0.02 < len(partial) / len(sends) < 0.04
    for n in sends:
        payload = n["payload"]
        size = sizes[payload["image_id"]]
        if n["priority"] == "ERROR":
            assert 0 < payload["bytes_sent"] < size
        else:
            assert payload["bytes_sent"] == size
    with_ip = [n["payload"]["destination_ip"] for n in sends if "destination_ip" in n["payload"]]
    assert 0.07 < len(with_ip) / len(sends) < 0.13
    for ip in with_ip:
        assert any(ipaddress.ip_address(ip) in net for net in DOC_NETS), ip
    assert any(ipaddress.ip_address(ip).version == 6 for ip in with_ip)
    assert any(size > 2**31 for size in sizes.values())


def test_lifecycle_order_and_nothing_after_delete(run: Any) -> None:
    _, notifications = run
    history: dict[str, list[str]] = defaultdict(list)
    status: dict[str, str] = {}
    for n in notifications:
        payload = n["payload"]
        if not isinstance(payload, dict):
            continue
        image_id = payload.get("image_id") or (payload["id"] if n["event_type"] in IMAGE_EVENTS else None)
        if image_id is None:
            continue
        assert "image.delete" not in history[image_id], (image_id, n["event_type"])
        if n["event_type"] == "image.send":
            assert status[image_id] == "active"
        elif n["event_type"] in IMAGE_EVENTS:
            status[image_id] = payload["status"]
        history[image_id].append(n["event_type"])
    uploaded = 0
    for events in history.values():
        steps = [e for e in events if e in LIFECYCLE]
        if "image.create" in events:
            assert steps == LIFECYCLE[: len(steps)], steps
            uploaded += steps == LIFECYCLE
    assert uploaded > 100
    assert sum("image.delete" in events for events in history.values()) > 50


def test_status_progresses_and_failed_uploads_restore_to_queued(run: Any) -> None:
    _, notifications = run
    failures = restores = 0
    for n in notifications:
        if n["event_type"] in IMAGE_EVENTS and isinstance(n["payload"], dict):
            if n["event_type"] == "image.create":
                assert n["payload"]["status"] == "queued" and n["payload"]["size"] is None
            if n["event_type"] in ("image.upload", "image.activate"):
                assert n["payload"]["status"] == "active" and n["payload"]["size"] > 0
            if n["event_type"] == "image.prepare":
                assert n["payload"]["status"] in ("saving", "importing")
            if n["event_type"] == "image.update" and n["payload"]["status"] == "queued":
                assert n["payload"]["size"] is None
                restores += 1
        if n["event_type"] == "image.upload" and n["priority"] == "ERROR":
            assert isinstance(n["payload"], str)
            failures += 1
    # Each failed upload is followed by Glance's _restore (image.update back to queued).
    assert failures > 0 and restores in (failures, failures - 1)


def test_task_sequences(run: Any) -> None:
    _, notifications = run
    tasks: dict[str, list[str]] = defaultdict(list)
    for n in notifications:
        if n["event_type"].startswith("task."):
            tasks[n["payload"]["id"]].append(n["event_type"])
    finished = [events for events in tasks.values() if len(events) == 3]
    assert len(finished) > 50
    for events in tasks.values():
        assert len(events) <= 3
        assert events[:2] == ["task.processing", "task.run"][: len(events[:2])]
    for events in finished:
        assert events[2] in ("task.success", "task.failure")
    failures = sum(events[2] == "task.failure" for events in finished)
    assert 0.02 < failures / len(finished) < 0.25


def test_duplicates_do_not_change_ground_truth(run: Any) -> None:
    gen, notifications = run
    doubled = inject_duplicates(notifications, 0.05, random.Random(11))
    extra = len(doubled) - len(notifications)
    assert 0.03 * len(notifications) < extra < 0.07 * len(notifications)
    counts = Counter(n["message_id"] for n in doubled)
    assert max(counts.values()) == 2 and set(counts) == {n["message_id"] for n in notifications}
    first_seen: dict[str, int] = {}
    for i, n in enumerate(doubled):
        first_seen.setdefault(n["message_id"], i)
        assert n == doubled[first_seen[n["message_id"]]]
    # Originals keep their order; each copy comes after its original.
    originals = [n for i, n in enumerate(doubled) if first_seen[n["message_id"]] == i]
    assert [n["message_id"] for n in originals] == [n["message_id"] for n in notifications]
    assert recount(doubled) == recount(notifications) == truth_of(gen)


def test_malformed_inputs_are_rejected_for_the_stated_reason(codec: AvroCodec) -> None:
    samples = malformed_samples(random.Random(3), 80)
    assert {kind for kind, _ in samples} == set(MALFORMED_KINDS)
    assert len({raw for _, raw in samples}) > 60
    for kind, raw in samples:
        assert isinstance(raw, bytes)
        with pytest.raises(InvalidNotification) as caught:
            codec.encode(raw)
        assert caught.value.reason == kind, raw[:120]
    raws = inject_malformed(random.Random(4), 25)
    assert len(raws) == 25 and all(isinstance(raw, bytes) for raw in raws)
    assert inject_malformed(random.Random(4), 25) == raws


def test_iterating_matches_batches_and_truth_keeps_pace() -> None:
    from itertools import islice

    batch = TrafficGenerator(seed=9).next_batch(700)
    gen = TrafficGenerator(seed=9)
    streamed = list(islice(iter(gen), 700))
    assert streamed == batch
    assert sum(gen.truth.notifications.values()) == 700
