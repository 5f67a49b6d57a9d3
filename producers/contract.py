"""The Avro contract in avro/, loaded: which schema (and schema id) serves which event type.

Everything the codec does is read off the schemas' own attributes (`glance.event_type`,
`glance.json`, `glance.omit_if_null`), so a new field or version needs no code change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from .exceptions import ContractError, ContractNotFound

OTHER = "*"
#: The event types Glance sends, each with its own schema and topic: the eleven its docs page
#: documents, and task.create, which a real Glance 33 sends for every task but the page omits.
DOCUMENTED_TYPES = (
    "image.create", "image.prepare", "image.upload", "image.activate", "image.send",
    "image.update", "image.delete", "task.create", "task.run", "task.processing", "task.success",
    "task.failure",
)
PRIORITIES = ("INFO", "WARN", "ERROR")
#: The exact spellings the fast path takes (any case goes through codec.normalize_priority).
PRIORITY_ALIASES = {p: p for p in PRIORITIES} | {"WARNING": "WARN"}


def contract_dir() -> Path:
    """avro/ in a checkout (editable install), or the copy a wheel carries as producers/_contract."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_contract", here.parent / "avro"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise ContractNotFound("the Avro contract (avro/manifest.json) is not installed")


@dataclass(frozen=True)
class PayloadShape:
    """How one payload record maps to and from the dicts Glance sends."""

    name: str
    fields: tuple[str, ...]
    json_fields: frozenset[str]
    omit_if_null: frozenset[str]
    required: frozenset[str]
    has_extra: bool
    #: Keys never written, even into `extra` (image locations can carry store credentials).
    drop: frozenset[str]
    #: The payload record's own schema (schemacodec compiles its type checks from it).
    record: dict[str, Any] = field(repr=False, compare=False)
    #: Its full name, which names the union branch for fastavro (`(full name, dict)`).
    full_name: str = ""


@dataclass(frozen=True)
class SchemaVersion:
    event_type: str  # OTHER for the catch-all
    version: int
    schema_id: int
    path: Path
    raw: dict[str, Any] = field(repr=False)
    parsed: Any = field(repr=False)
    #: The payload record's shape, or None when the payload is JSON text (catch-all).
    payload: PayloadShape | None = field(repr=False)

    @property
    def schema_str(self) -> str:
        return json.dumps(self.raw)

    @property
    def full_name(self) -> str:
        return f"{self.raw['namespace']}.{self.raw['name']}"


def payload_shape(raw: dict[str, Any]) -> PayloadShape | None:
    payload_field = next(f for f in raw["fields"] if f["name"] == "payload")
    branches = payload_field["type"] if isinstance(payload_field["type"], list) else []
    record = next((b for b in branches if isinstance(b, dict) and b.get("type") == "record"), None)
    if record is None:
        return None
    names = tuple(f["name"] for f in record["fields"])
    return PayloadShape(
        name=record["name"],
        fields=tuple(n for n in names if n != "extra"),
        json_fields=frozenset(f["name"] for f in record["fields"] if f.get("glance.json")),
        omit_if_null=frozenset(
            f["name"] for f in record["fields"] if f.get("glance.omit_if_null")),
        required=frozenset(
            f["name"] for f in record["fields"] if "default" not in f and f["name"] != "extra"),
        has_extra="extra" in names,
        drop=frozenset(record.get("glance.drop", ())),
        record=record,
        full_name=f"{record.get('namespace', raw.get('namespace', ''))}.{record['name']}".lstrip("."),
    )


class Contract:
    """All schema versions, by event type and by schema id."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or contract_dir()
        manifest = json.loads((self.root / "manifest.json").read_text())
        self.by_id: dict[int, SchemaVersion] = {}
        self.versions: dict[str, list[SchemaVersion]] = {}
        for entry in manifest["schemas"]:
            path = self.root / entry["file"]
            raw = json.loads(path.read_text())
            if raw.get("glance.event_type") != entry["event_type"]:
                raise ContractError(f"{path}: glance.event_type does not match the manifest")
            version = SchemaVersion(
                event_type=entry["event_type"], version=entry["version"],
                schema_id=entry["id"], path=path, raw=raw,
                parsed=fastavro.parse_schema(raw), payload=payload_shape(raw))
            if version.schema_id in self.by_id:
                raise ContractError(f"schema id {version.schema_id} is used twice in the manifest")
            self.by_id[version.schema_id] = version
            self.versions.setdefault(version.event_type, []).append(version)
        for versions in self.versions.values():
            versions.sort(key=lambda v: v.version)

    def latest(self, event_type: str) -> SchemaVersion:
        """The schema new records of this event type are written with (catch-all if undocumented)."""
        versions = self.versions.get(event_type) or self.versions[OTHER]
        return versions[-1]

    def is_documented(self, event_type: str) -> bool:
        return event_type in self.versions and event_type != OTHER

    def topic_suffix(self, event_type: str) -> str:
        return event_type if self.is_documented(event_type) else "other"


@cache
def default_contract() -> Contract:
    return Contract()
