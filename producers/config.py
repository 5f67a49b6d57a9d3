"""The one configuration object: every process (publisher, bridge, worker, demo) reads it.

Values come from arguments, then GLANCE_KAFKA_* environment variables, then defaults. Secrets are
SecretStr so they never show in reprs, logs or errors, and each may also be read from a file
(GLANCE_KAFKA_SASL_PASSWORD_FILE=/run/secrets/...), the way Kubernetes mounts them.

Plain Python on purpose: the driver installs into Glance's own environment, under OpenStack's
upper-constraints, which pin no pydantic-settings (and, on 2025.1, no pydantic at all).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import ConfigurationError
from .kafkalog import LOGGER as KAFKA_LOGGER
from .kafkalog import Reachability

EMBEDDED_BOOTSTRAP = "127.0.0.1:9092"
ENV_PREFIX = "GLANCE_KAFKA_"

#: librdkafka keys the typed fields own; -X may not set them behind the fields' back.
_TYPED_KEYS = {
    "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.mechanisms",
    "sasl.username", "sasl.password", "ssl.ca.location", "ssl.certificate.location",
    "ssl.key.location", "ssl.key.password",
}
_SECRET_FIELDS = ("sasl_password", "ssl_key_password", "schema_registry_basic_auth_user_info",
                  "transport_url")
_CHOICES = {
    "security_protocol": ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    "sasl_mechanism": ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
}


class SecretStr:
    """A string that shows as '**********' everywhere but `get_secret_value()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Connection, naming and limits shared by every command.

    `Settings(field=value, ...)` takes the given fields and reads the others from GLANCE_KAFKA_*
    variables; a bad value is a ConfigurationError naming the field (never a secret's value).
    """

    bootstrap_servers: str = EMBEDDED_BOOTSTRAP
    topic_prefix: str = "glance."
    schema_registry_url: str | None = None
    schema_registry_basic_auth_user_info: SecretStr | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    #: Records above this many bytes are dead-lettered instead of failing at the broker
    #: (Kafka's default message.max.bytes is ~1 MB).
    max_message_bytes: int = 1_000_000
    #: Seconds a command stopped by SIGTERM/Ctrl-C still waits for records in flight before it
    #: gives up on them (publish writes them to a file; the bridge leaves them uncommitted).
    shutdown_grace_seconds: float = 10.0
    #: /healthz turns 503 when the event loop, or the Kafka consumer's traffic with the broker,
    #: has been stuck this long (see producers/liveness.py). Keep it below the time Kubernetes
    #: takes to give up on the probe, above a slow rebalance.
    liveness_timeout_seconds: float = 60.0
    #: Any other librdkafka setting, as given with -X key=value.
    librdkafka: dict[str, str] = field(default_factory=dict)
    #: oslo.messaging transport URL the bridge listens on (rabbit://user:pass@host:5672/vhost);
    #: a secret, since it holds the RabbitMQ password. None: the bridge reads Kafka topics.
    transport_url: SecretStr | None = None

    # Secret files: *_file paths are read once, at load, into the SecretStr field.
    sasl_password_file: Path | None = None
    ssl_key_password_file: Path | None = None
    schema_registry_basic_auth_user_info_file: Path | None = None
    transport_url_file: Path | None = None

    def __init__(self, **given: Any) -> None:
        values = _from_environment()
        values.update({k: v for k, v in given.items() if k in _FIELDS})
        for name, value in _checked(values).items():
            object.__setattr__(self, name, value)

    def __hash__(self) -> int:
        return hash(self.key())

    def key(self) -> tuple[Any, ...]:
        """Every value, hashable: processes share one producer per distinct key."""
        return tuple(tuple(sorted(v.items())) if isinstance(v, dict) else v
                     for v in (getattr(self, f.name) for f in _DATACLASS_FIELDS))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in _DATACLASS_FIELDS}

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def dlq_topic(self) -> str:
        return self.topic("dlq")

    @property
    def other_topic(self) -> str:
        return self.topic("other")

    def librdkafka_config(self) -> dict[str, Any]:
        """The settings as a librdkafka dict (confluent-kafka producers, consumers, admin)."""
        conf: dict[str, Any] = {
            "logger": KAFKA_LOGGER,
            # Connection failures as one outage line, not one line per reconnect attempt.
            "error_cb": Reachability(self.bootstrap_servers).on_error,
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": (
                self.ssl_key_password.get_secret_value() if self.ssl_key_password else None),
        }
        conf.update({k: v for k, v in optional.items() if v is not None})
        conf.update(self.librdkafka)
        return conf

    def schema_registry_config(self) -> dict[str, str] | None:
        if not self.schema_registry_url:
            return None
        conf = {"url": self.schema_registry_url}
        if self.schema_registry_basic_auth_user_info:
            conf["basic.auth.user.info"] = (
                self.schema_registry_basic_auth_user_info.get_secret_value())
        return conf


_DATACLASS_FIELDS = dataclasses.fields(Settings)
_FIELDS = {f.name for f in _DATACLASS_FIELDS}


def _from_environment() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        text = os.environ.get(ENV_PREFIX + name.upper())
        if text is not None:
            values[name] = text
    return values


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    """Defaults for what is missing; each value converted to its field's type, or a clear error."""
    for name in _SECRET_FIELDS:
        path = values.get(f"{name}_file")
        if path and not values.get(name):
            try:
                values[name] = Path(path).read_text().strip()
            except OSError as exc:
                # The path is safe to show; the content never is.
                raise ConfigurationError(
                    f"cannot read {name}_file {path}: {exc.strerror}") from None
    out: dict[str, Any] = {}
    for f in _DATACLASS_FIELDS:
        if f.name not in values or values[f.name] is None:
            out[f.name] = f.default_factory() if f.default is dataclasses.MISSING else f.default
            continue
        value = values[f.name]
        if f.name in _SECRET_FIELDS:
            value = value if isinstance(value, SecretStr) else SecretStr(_text(f.name, value))
        elif f.name == "max_message_bytes":
            value = _positive_int(f.name, value)
        elif f.name in ("shutdown_grace_seconds", "liveness_timeout_seconds"):
            value = _seconds(f.name, value, zero_ok=f.name == "shutdown_grace_seconds")
        elif f.name == "librdkafka":
            value = _string_dict(f.name, value)
        elif f.name.endswith("_file"):
            value = Path(value)
        else:
            value = _text(f.name, value)
            choices = _CHOICES.get(f.name)
            if choices and value not in choices:
                raise ConfigurationError(
                    f"{f.name}: {value!r} is not one of {', '.join(choices)}")
        out[f.name] = value
    clash = sorted(set(out["librdkafka"]) & _TYPED_KEYS)
    if clash:
        raise ConfigurationError(
            f"set {', '.join(clash)} with its own option or GLANCE_KAFKA_* variable, not -X")
    return out


def _seconds(name: str, value: Any, zero_ok: bool) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}: expected a number of seconds, got {value!r}") from None
    if seconds < 0 or (seconds == 0 and not zero_ok):
        raise ConfigurationError(f"{name}: must be {'0 or more' if zero_ok else 'above 0'}, "
                                 f"got {value!r}")
    return seconds


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{name}: expected text, got {type(value).__name__}")
    return value


def _positive_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}: {value!r} is not a whole number") from None
    if number <= 0:
        raise ConfigurationError(f"{name}: must be greater than 0, got {number}")
    return number


def _string_dict(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, str):  # from the environment: a JSON object
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigurationError(f"{name}: expected a JSON object of settings") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name}: expected key/value settings, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment with command-line overrides; None means 'not given'."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
