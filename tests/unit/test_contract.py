"""The Avro contract: complete, consistent, and every version readable by its successor."""

from __future__ import annotations

import io
import json
from itertools import pairwise

import fastavro
import pytest

from producers.codec import from_record, to_record
from producers.contract import DOCUMENTED_TYPES, OTHER, Contract, default_contract
from tests.glance_events import glance_notifications, seed_notifications


@pytest.fixture(scope="module")
def contract() -> Contract:
    return default_contract()


def test_every_documented_type_and_the_catch_all_have_a_schema(contract: Contract) -> None:
    assert set(contract.versions) == set(DOCUMENTED_TYPES) | {OTHER}
    for event_type in DOCUMENTED_TYPES:
        assert contract.latest(event_type).raw["glance.event_type"] == event_type
    assert contract.latest("image.member.create").event_type == OTHER
    assert contract.latest("metadef_namespace.create").event_type == OTHER


def test_schema_ids_are_unique_and_versions_consecutive(contract: Contract) -> None:
    manifest = json.loads((contract.root / "manifest.json").read_text())
    ids = [entry["id"] for entry in manifest["schemas"]]
    assert len(ids) == len(set(ids))
    for versions in contract.versions.values():
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))


def test_all_schemas_share_the_envelope(contract: Contract) -> None:
    """The six envelope fields are written out in every schema file; they must not drift apart."""
    def envelope(version):  # everything but the payload's type
        payload_only = ("type", "doc", "glance.json")
        return [{k: v for k, v in f.items() if not (f["name"] == "payload" and k in payload_only)}
                for f in version.raw["fields"]]

    reference = envelope(contract.latest("image.send"))
    assert [f["name"] for f in reference] == [
        "message_id", "publisher_id", "event_type", "priority", "timestamp", "payload"]
    for version in contract.by_id.values():
        assert envelope(version) == reference, version.path


def test_image_payloads_are_the_same_record_in_every_image_schema(contract: Contract) -> None:
    def image_record(event_type):
        return contract.latest(event_type).raw["fields"][-1]["type"][0]

    reference = image_record("image.create")
    for event_type in ("image.prepare", "image.upload", "image.activate", "image.update",
                       "image.delete"):
        assert image_record(event_type) == reference


def _samples_of(event_type: str) -> list[dict]:
    return [n for n in glance_notifications() + seed_notifications()
            if (n["event_type"] if n["event_type"] in DOCUMENTED_TYPES else OTHER) == event_type]


def _write(version, notification) -> io.BytesIO:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, version.parsed, to_record(notification, version))
    buffer.seek(0)
    return buffer


def test_each_new_version_reads_data_written_with_the_previous_one(contract: Contract) -> None:
    """Backward (lossless: the new reader gets every value the old writer kept) and forward (an
    old reader still gets every field it knows from new data), so consumers never break."""
    pairs = [(old, new) for versions in contract.versions.values() for old, new in pairwise(versions)]
    assert pairs, "no schema has a second version yet; this test would prove nothing"
    checked = 0
    for old, new in pairs:
        samples = _samples_of(old.event_type)
        assert samples, f"no sample notification for {old.event_type}"
        for notification in samples:
            for writer, reader in ((old, new), (new, old)):
                record = fastavro.schemaless_reader(_write(writer, notification), writer.parsed,
                                                    reader.parsed)
                got = from_record(record, reader)
                assert got["message_id"] == notification["message_id"]
                assert got["priority"] == notification["priority"].upper()
                payload = notification["payload"]
                if isinstance(payload, dict):
                    old_reader = reader is old and writer is new
                    for key, value in payload.items():
                        if old_reader and key in set(new.payload.fields) - set(old.payload.fields):
                            continue  # a field added in the new version: old readers skip it
                        assert got["payload"][key] == value, (writer.path, reader.path, key)
                else:
                    assert got["payload"] == payload
                checked += 1
    assert checked >= 8
