"""Schema ids: from a real Confluent-compatible registry, or from avro/manifest.json offline.

The offline client answers confluent-kafka's serdes exactly as a registry holding the manifest
would, so the same AvroSerializer/AvroDeserializer code runs with and without a server.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka.schema_registry import (
    RegisteredSchema,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
)
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)

from .config import Settings
from .contract import Contract, SchemaVersion

_NOT_FOUND = 40403


class ManifestSchemaRegistryClient(MockSchemaRegistryClient):
    """A read-only registry whose schemas and ids are the contract's manifest."""

    def __init__(self, contract: Contract) -> None:
        super().__init__({"url": "mock://glance-kafka-manifest"})
        self._contract = contract
        self._by_text = {v.schema_str: v for v in contract.by_id.values()}

    def _registered(self, subject: str | None, version: SchemaVersion) -> RegisteredSchema:
        return RegisteredSchema(
            schema_id=version.schema_id, guid=None, schema=Schema(version.schema_str, "AVRO"),
            subject=subject, version=version.version)

    def _find(self, schema: Schema) -> SchemaVersion:
        version = self._by_text.get(schema.schema_str)
        if version is None:
            raise SchemaRegistryError(
                404, _NOT_FOUND, "schema is not in avro/manifest.json; add it there with a new id")
        return version

    def register_schema_full_response(
        self, subject_name: str, schema: Schema, normalize_schemas: bool = False
    ) -> RegisteredSchema:
        return self._registered(subject_name, self._find(schema))

    def lookup_schema(self, subject_name: str, schema: Schema, *args: Any, **kw: Any
                      ) -> RegisteredSchema:
        return self._registered(subject_name, self._find(schema))

    def get_schema(self, schema_id: int, *args: Any, **kw: Any) -> Schema:
        version = self._contract.by_id.get(schema_id)
        if version is None:
            raise SchemaRegistryError(404, 40403, f"schema id {schema_id} is not in the manifest")
        return Schema(version.schema_str, "AVRO")


def registry_client(settings: Settings, contract: Contract) -> SchemaRegistryClient:
    conf = settings.schema_registry_config()
    if conf is None:
        return ManifestSchemaRegistryClient(contract)
    return SchemaRegistryClient(conf)
