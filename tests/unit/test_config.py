"""One configuration object: secrets stay secret, librdkafka settings pass through."""

from __future__ import annotations

import pytest

from producers.config import Settings, load_settings
from producers.exceptions import ConfigurationError


def test_sasl_and_ssl_pass_through_and_secrets_stay_out_of_reprs(monkeypatch, tmp_path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("s3cr3t-from-file\n")
    monkeypatch.setenv("GLANCE_KAFKA_SASL_PASSWORD_FILE", str(secret_file))
    monkeypatch.setenv("GLANCE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    settings = load_settings(sasl_mechanism="SCRAM-SHA-512", sasl_username="glance",
                             ssl_ca_location="/etc/ca.pem", librdkafka={"linger.ms": "20"})
    conf = settings.librdkafka_config()
    assert conf["sasl.password"] == "s3cr3t-from-file"
    assert conf["security.protocol"] == "sasl_ssl"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["ssl.ca.location"] == "/etc/ca.pem"
    assert conf["linger.ms"] == "20"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings)


def test_typed_keys_cannot_be_overridden_through_x() -> None:
    with pytest.raises(ConfigurationError, match="sasl.password"):
        load_settings(librdkafka={"sasl.password": "oops"})


def test_bad_values_are_one_clear_error_without_the_secret() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(security_protocol="TELNET", sasl_password="hunter2")
    assert "security_protocol" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_unreadable_secret_file_names_the_path(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="sasl_password_file"):
        load_settings(sasl_password_file=str(tmp_path / "missing"))


def test_topic_names() -> None:
    settings = Settings(topic_prefix="prod.glance.")
    assert settings.topic("image.send") == "prod.glance.image.send"
    assert settings.dlq_topic == "prod.glance.dlq"
    assert settings.other_topic == "prod.glance.other"
