"""Credentials: one configuration for both Kafka clients, and secrets that never show."""

from __future__ import annotations

import ssl
import subprocess
import sys

import faust
import pytest

from producers.config import load_settings
from streams.app import broker_credentials
from tests.processes import ROOT

SECRET = "pa55-Zx9-never-print-me"


def test_sasl_scram_reaches_faust_and_librdkafka_from_one_configuration() -> None:
    settings = load_settings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                             sasl_username="glance", sasl_password=SECRET)
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "glance" and credentials.password == SECRET
    assert str(credentials.mechanism.value if hasattr(credentials.mechanism, "value")
               else credentials.mechanism) == "SCRAM-SHA-512"
    assert isinstance(credentials.ssl_context, ssl.SSLContext)
    conf = settings.librdkafka_config()
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512" and conf["sasl.password"] == SECRET
    assert conf["security.protocol"] == "sasl_ssl"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_sasl_plaintext_mechanisms(mechanism: str) -> None:
    settings = load_settings(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                             sasl_username="u", sasl_password=SECRET)
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials) and credentials.ssl_context is None
    assert settings.librdkafka_config()["sasl.mechanism"] == mechanism


def test_tls_only_gives_faust_an_ssl_context() -> None:
    credentials = broker_credentials(load_settings(security_protocol="SSL"))
    assert isinstance(credentials, faust.SSLCredentials)
    assert broker_credentials(load_settings()) is None


def test_secrets_stay_out_of_reprs() -> None:
    settings = load_settings(sasl_password=SECRET, ssl_key_password=SECRET,
                             schema_registry_basic_auth_user_info=f"u:{SECRET}")
    for text in (repr(settings), str(settings), str(settings.as_dict())):
        assert SECRET not in text


def test_secrets_never_in_help_errors_or_logs(tmp_path) -> None:
    env = {"GLANCE_KAFKA_SASL_PASSWORD": SECRET, "GLANCE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "GLANCE_KAFKA_SASL_MECHANISM": "PLAIN", "GLANCE_KAFKA_SASL_USERNAME": "glance",
           "PATH": "/usr/bin:/bin"}
    runs = [
        ["--help"], ["publish", "--help"], ["stream", "--help"],
        # an unreachable broker, verbose: the errors and logs it prints
        ["consume", "--topic", "x", "--bootstrap-servers", "127.0.0.1:1", "--timeout", "1", "-vv"],
        # a bad setting next to the secret
        ["publish", "-", "-X", "sasl.password=" + "other"],
    ]
    for args in runs:
        done = subprocess.run([sys.executable, "-m", "producers", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60, input="")
        assert SECRET not in done.stdout + done.stderr, args
