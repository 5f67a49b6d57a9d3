"""Topic names and creation: one topic per documented event type, a catch-all and dead letters."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from .config import Settings
from .contract import DOCUMENTED_TYPES


def event_topics(settings: Settings) -> dict[str, str]:
    """Event type -> its topic: the documented types, then "other" for the catch-all."""
    topics = {t: settings.topic(t) for t in DOCUMENTED_TYPES}
    topics["other"] = settings.other_topic
    return topics


def pipeline_topics(settings: Settings) -> list[str]:
    """Every topic the pipeline writes and the stream workers read, dead letters last.

    The one list: topic creation, the workers' subscription and `consume` all use it.
    """
    return [*event_topics(settings).values(), settings.dlq_topic]


def ensure_topics(settings: Settings, topics: list[str] | None = None, partitions: int = 4,
                  replication_factor: int = 1, timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created.

    Kafka clusters often disable auto-creation, and the stream processors need every source topic
    to share one partition count with their changelogs, so topics are created explicitly.
    """
    admin = AdminClient(settings.librdkafka_config())
    wanted = topics or pipeline_topics(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [t for t in wanted if t not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=replication_factor)
         for t in missing], operation_timeout=timeout, request_timeout=timeout)
    created = []
    for topic, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created
