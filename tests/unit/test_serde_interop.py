"""Our records are what confluent-kafka's own Schema Registry serdes write and read."""

from __future__ import annotations

from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from producers.codec import to_record
from producers.config import Settings
from producers.contract import default_contract
from producers.registry import ManifestSchemaRegistryClient
from producers.serde import AvroCodec
from tests.glance_events import glance_notifications


def test_confluent_deserializer_reads_our_records_and_we_read_theirs() -> None:
    contract = default_contract()
    registry = ManifestSchemaRegistryClient(contract)
    codec = AvroCodec(Settings(bootstrap_servers="127.0.0.1:1"), registry=registry)
    for sent in glance_notifications():
        schema = contract.latest(sent["event_type"])
        ctx = SerializationContext(f"glance.{sent['event_type']}", MessageField.VALUE)
        ours = codec.encode(sent).value
        theirs = AvroSerializer(registry, schema.schema_str,
                                conf={"auto.register.schemas": False})(to_record(sent, schema), ctx)
        assert ours == theirs
        record = AvroDeserializer(registry, schema.schema_str)(ours, ctx)
        assert record["message_id"] == sent["message_id"]
        assert codec.decode(theirs)["payload"] == sent["payload"]
