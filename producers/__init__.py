"""Publishing Glance notifications as Avro records to per-type Kafka topics.

What users import is named here (`__all__`); every other module of the package is internal and
may change between releases. Importing this package brings only the base install's
dependencies (confluent-kafka, fastavro): it is what Glance's environment loads for the driver.
"""

from .config import Settings, load_settings
from .exceptions import (
    EXIT_CODES,
    AuthenticationError,
    BrokerError,
    ConfigurationError,
    ContractError,
    DeliveryError,
    GlanceKafkaError,
    InputError,
    InvalidNotification,
    MissingExtra,
    QueueFull,
    TopicNotFound,
)
from .publisher import Publisher, PublishStats
from .reader import read_topic, read_topics
from .serde import AvroCodec, Encoded
from .topics import ensure_topics, event_topics, pipeline_topics

__all__ = [
    "EXIT_CODES",
    "AuthenticationError",
    "AvroCodec",
    "BrokerError",
    "ConfigurationError",
    "ContractError",
    "DeliveryError",
    "Encoded",
    "GlanceKafkaError",
    "InputError",
    "InvalidNotification",
    "MissingExtra",
    "PublishStats",
    "Publisher",
    "QueueFull",
    "Settings",
    "TopicNotFound",
    "ensure_topics",
    "event_topics",
    "load_settings",
    "pipeline_topics",
    "read_topic",
    "read_topics",
]
