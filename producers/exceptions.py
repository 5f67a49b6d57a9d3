"""One root for every error the pipeline raises, so callers can catch the product's errors alone.

Each class carries the exit code the CLI ends with when it reaches the top, so a script (or a
Kubernetes Job) can tell an operator's typo from an outage without parsing the message. The codes
are listed in `glance-kafka --help` and the README (`EXIT_CODES` below is the one table).
"""

from __future__ import annotations

from typing import Any


class GlanceKafkaError(Exception):
    """Root of the project's errors; exit code 8 when nothing more specific applies."""

    exit_code = 8


class ConfigurationError(GlanceKafkaError):
    """Settings that cannot work (unknown librdkafka key, unreadable secret file, ...)."""

    exit_code = 2


class InputError(GlanceKafkaError):
    """An input file that is missing or cannot be read."""

    exit_code = 3


class InvalidNotification(GlanceKafkaError):
    """A notification that cannot be encoded; `reason` is a short stable code used as a metric label.

    The original bytes travel with it so the dead-letter record can keep them for replay.
    """

    exit_code = 1

    def __init__(self, reason: str, detail: str, original: bytes | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.original = original


class BrokerError(GlanceKafkaError):
    """Kafka (or the embedded broker) could not be started or reached, or refused to talk."""

    exit_code = 4


class AuthenticationError(BrokerError):
    """The broker was reached but refused the credentials (SASL/SSL) or the operation (ACLs)."""

    exit_code = 5


class TopicNotFound(GlanceKafkaError):
    """A topic that does not exist and is not one the pipeline creates on first use."""

    exit_code = 6


class DeliveryError(GlanceKafkaError):
    """The broker did not take a record (after librdkafka's own retries)."""

    exit_code = 7


class QueueFull(DeliveryError):
    """The local producer queue had no room within the configured wait: the record was refused."""


class MissingExtra(GlanceKafkaError):
    """A command needs an optional part of the package that is not installed."""

    exit_code = 2


class ContractError(GlanceKafkaError, ValueError):
    """The Avro contract (avro/) contradicts itself: a broken install or a bad manifest edit."""


class ContractNotFound(ContractError, FileNotFoundError):
    """The Avro contract (avro/manifest.json) is not installed."""


class PartitionMismatch(ConfigurationError, ValueError):
    """Source topics with different partition counts: a stream processor's table needs one."""


#: Exit codes of every command, for --help and the README (a test keeps them in step).
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "done, but some records were dead-lettered (publish --strict) or could not be decoded "
       "(consume)",
    2: "bad option value or configuration",
    3: "input file missing or unreadable",
    4: "Kafka (or the bridge's RabbitMQ) unreachable or not answering (connection refused, "
       "timeout, wrong protocol)",
    5: "Kafka (or the bridge's RabbitMQ) refused the credentials or the operation "
       "(authentication, authorization)",
    6: "topic does not exist",
    7: "records not delivered (they are written to a file named on stderr, to publish again)",
    8: "any other error",
    130: "stopped by Ctrl-C (SIGINT) with everything read delivered",
    143: "stopped by SIGTERM with everything read delivered",
}

#: librdkafka error names, by class of failure (KafkaError.name()).
_UNREACHABLE = {
    "_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_TIMED_OUT", "_MSG_TIMED_OUT",
    "_TIMED_OUT_QUEUE", "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION", "_SSL", "_DESTROY",
    "BROKER_NOT_AVAILABLE", "LEADER_NOT_AVAILABLE", "NOT_COORDINATOR", "_WAIT_COORD",
}
_REFUSED = {
    "_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_UNSUPPORTED_FEATURE",
    "UNSUPPORTED_SASL_MECHANISM", "ILLEGAL_SASL_STATE", "TOPIC_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "DELEGATION_TOKEN_AUTH_DISABLED",
}
_NO_TOPIC = {"UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION", "UNKNOWN_TOPIC_ID"}


def from_kafka(error: Any, where: str) -> GlanceKafkaError:
    """A librdkafka error (KafkaError, or a KafkaException holding one) as the product's error.

    `where` names the cluster ("Kafka at h:p"), so the one line on stderr says what could not
    be done where, and librdkafka's reason.
    """
    from .kafkalog import plain
    if isinstance(error, Exception) and error.args and hasattr(error.args[0], "name"):
        error = error.args[0]
    name = error.name() if hasattr(error, "name") else ""
    text = plain(error.str() if hasattr(error, "str") else str(error))
    if name in _REFUSED:
        return AuthenticationError(f"{where} refused the connection or request: {text}")
    if name in _NO_TOPIC:
        return TopicNotFound(f"{where}: {text}")
    if name in _UNREACHABLE:
        return BrokerError(f"cannot reach {where}: {text}")
    if name in ("_INVALID_ARG", "_UNKNOWN_PROTOCOL", "_CONFLICT"):
        return ConfigurationError(f"invalid Kafka client setting: {text}")
    return GlanceKafkaError(f"{where}: {text}")
