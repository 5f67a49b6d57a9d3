"""The one configuration object: every process (publisher, bridge, worker, demo) reads it.

Values come from arguments, then GLANCE_KAFKA_* environment variables, then defaults. Secrets are
SecretStr so they never show in reprs, logs or errors, and each may also be read from a file
(GLANCE_KAFKA_SASL_PASSWORD_FILE=/run/secrets/...), the way Kubernetes mounts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .exceptions import ConfigurationError
from .kafkalog import LOGGER as KAFKA_LOGGER

EMBEDDED_BOOTSTRAP = "127.0.0.1:9092"

#: librdkafka keys the typed fields own; -X may not set them behind the fields' back.
_TYPED_KEYS = {
    "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.mechanisms",
    "sasl.username", "sasl.password", "ssl.ca.location", "ssl.certificate.location",
    "ssl.key.location", "ssl.key.password",
}
_SECRET_FIELDS = ("sasl_password", "ssl_key_password", "schema_registry_basic_auth_user_info",
                  "transport_url")


class Settings(BaseSettings):
    """Connection, naming and limits shared by every command."""

    model_config = SettingsConfigDict(env_prefix="GLANCE_KAFKA_", extra="ignore", frozen=True)

    bootstrap_servers: str = EMBEDDED_BOOTSTRAP
    topic_prefix: str = "glance."
    schema_registry_url: str | None = None
    schema_registry_basic_auth_user_info: SecretStr | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    #: Records above this many bytes are dead-lettered instead of failing at the broker
    #: (Kafka's default message.max.bytes is ~1 MB).
    max_message_bytes: int = Field(default=1_000_000, gt=0)
    #: Any other librdkafka setting, as given with -X key=value.
    librdkafka: dict[str, str] = Field(default_factory=dict)
    #: oslo.messaging transport URL the bridge listens on (rabbit://user:pass@host:5672/vhost);
    #: a secret, since it holds the RabbitMQ password. None: the bridge reads Kafka topics.
    transport_url: SecretStr | None = None

    # Secret files: *_file paths are read once, at load, into the SecretStr field.
    sasl_password_file: Path | None = None
    ssl_key_password_file: Path | None = None
    schema_registry_basic_auth_user_info_file: Path | None = None
    transport_url_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in _SECRET_FIELDS:
            path = data.get(f"{name}_file")
            if path and not data.get(name):
                try:
                    data[name] = Path(path).read_text().strip()
                except OSError as exc:
                    # The path is safe to show; the content never is.
                    raise ValueError(f"cannot read {name}_file {path}: {exc.strerror}") from None
        return data

    @model_validator(mode="after")
    def _check_passthrough(self) -> Settings:
        clash = sorted(set(self.librdkafka) & _TYPED_KEYS)
        if clash:
            raise ValueError(
                f"set {', '.join(clash)} with its own option or GLANCE_KAFKA_* variable, not -X")
        return self

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


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment with command-line overrides; None means 'not given'."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValueError as exc:
        # pydantic's message names the field and the problem, never a SecretStr's value.
        raise ConfigurationError(str(exc).splitlines()[0] + ": " + _first_error(exc)) from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    return str(exc)
