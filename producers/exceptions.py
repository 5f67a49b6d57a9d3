"""One root for every error the pipeline raises, so callers can catch the product's errors alone."""

from __future__ import annotations


class GlanceKafkaError(Exception):
    """Root of the project's errors."""


class ConfigurationError(GlanceKafkaError):
    """Settings that cannot work (unknown librdkafka key, unreadable secret file, ...)."""


class InvalidNotification(GlanceKafkaError):
    """A notification that cannot be encoded; `reason` is a short stable code used as a metric label.

    The original bytes travel with it so the dead-letter record can keep them for replay.
    """

    def __init__(self, reason: str, detail: str, original: bytes | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.original = original


class DeliveryError(GlanceKafkaError):
    """The broker did not take a record (after librdkafka's own retries)."""


class BrokerError(GlanceKafkaError):
    """The embedded broker could not be started or reached."""


class QueueFull(DeliveryError):
    """The local producer queue had no room within the configured wait: the record was refused."""


class MissingExtra(GlanceKafkaError):
    """A command needs an optional part of the package that is not installed."""
