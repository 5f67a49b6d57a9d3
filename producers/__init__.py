"""Publishing Glance notifications as Avro records to per-type Kafka topics."""
