"""Schema ids from a real Confluent-compatible registry (`schema_registry_url`).

Offline (the default) the codec reads ids from avro/manifest.json itself and never imports this
module: confluent_kafka.schema_registry needs httpx, attrs, cachetools and authlib, which the
driver does not bring into Glance's environment (`pip install 'glance-kafka[registry]'`).
ManifestSchemaRegistryClient answers confluent-kafka's serdes exactly as a registry holding the
manifest would; the tests use it to check our framing is theirs.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from typing import Any

from .config import Settings
from .contract import Contract, SchemaVersion
from .exceptions import ConfigurationError

# authlib (pulled in by confluent-kafka's registry client) warns about its own httpx module at
# import, and forces its warnings on with a filter of its own; ours goes in front of it.
with contextlib.suppress(ImportError):
    import authlib.deprecate  # noqa: F401
warnings.filterwarnings("ignore", message="The httpx module is deprecated")

try:
    from confluent_kafka.schema_registry import (
        RegisteredSchema,
        Schema,
        SchemaRegistryClient,
        SchemaRegistryError,
    )
except ImportError as exc:  # httpx, attrs, cachetools or authlib missing
    raise ConfigurationError(
        f"schema_registry_url needs the [registry] extra ({exc.name or exc} is missing): "
        "pip install 'glance-kafka[registry]'") from None

# -- confluent-kafka 2.8 (OpenStack 2025.1's upper-constraints) to 2.16: the differences used here.
try:  # 2.10+ split the registry client into _sync/_async packages
    from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
        MockSchemaRegistryClient,
    )
except ImportError:  # 2.8, 2.9
    from confluent_kafka.schema_registry.mock_schema_registry_client import (
        MockSchemaRegistryClient,
    )
#: RegisteredSchema gained a `guid` (schema GUIDs, 2.10+); older ones take no such argument.
_HAS_GUID = "guid" in inspect.signature(RegisteredSchema.__init__).parameters


_NOT_FOUND = 40403


class ManifestSchemaRegistryClient(MockSchemaRegistryClient):
    """A read-only registry whose schemas and ids are the contract's manifest."""

    def __init__(self, contract: Contract) -> None:
        super().__init__({"url": "mock://glance-kafka-manifest"})
        self._contract = contract
        self._by_text = {v.schema_str: v for v in contract.by_id.values()}

    def _registered(self, subject: str | None, version: SchemaVersion) -> RegisteredSchema:
        extra: dict[str, Any] = {"guid": None} if _HAS_GUID else {}
        return RegisteredSchema(
            schema_id=version.schema_id, schema=Schema(version.schema_str, "AVRO"),
            subject=subject, version=version.version, **extra)

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


def registry_client(settings: Settings) -> SchemaRegistryClient:
    conf = settings.schema_registry_config()
    if conf is None:
        raise ConfigurationError("no schema_registry_url configured")
    return SchemaRegistryClient(conf)
