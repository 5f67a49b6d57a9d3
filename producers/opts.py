"""The `[glance_kafka]` options of glance-api.conf, for the driver and for oslo's config tools.

Registered under the `oslo.config.opts` entry point (namespace `glance_kafka`), so
`oslo-config-generator --namespace glance_kafka` documents them and `oslo-config-validator`
accepts a glance-api.conf that sets them. Only oslo.config is imported here: the tools load this
module without the driver.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "glance_kafka"
OPTS = [
    cfg.StrOpt("bootstrap_servers", help="Kafka bootstrap servers, host:port[,host:port]."),
    cfg.StrOpt("topic_prefix", help="Prefix of the per-type topics (default 'glance.')."),
    cfg.StrOpt("schema_registry_url",
               help="Confluent-compatible Schema Registry URL (needs the [registry] extra); "
                    "unset, schema ids come from the package's avro/manifest.json."),
    cfg.StrOpt("schema_registry_basic_auth_user_info", secret=True, help="user:password."),
    cfg.StrOpt("security_protocol", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
               help="How to reach Kafka (default PLAINTEXT)."),
    cfg.StrOpt("sasl_mechanism", choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
               help="SASL mechanism, with a SASL_* security_protocol."),
    cfg.StrOpt("sasl_username", help="SASL user name."),
    cfg.StrOpt("sasl_password", secret=True, help="SASL password."),
    cfg.StrOpt("ssl_ca_location", help="CA certificate file to verify the brokers with."),
    cfg.StrOpt("ssl_certificate_location", help="Client certificate file (mutual TLS)."),
    cfg.StrOpt("ssl_key_location", help="Client key file (mutual TLS)."),
    cfg.StrOpt("ssl_key_password", secret=True, help="Password of the client key."),
    cfg.DictOpt("librdkafka", default={}, help="Other librdkafka settings, key:value,..."),
    cfg.FloatOpt("buffer_full_timeout", default=0.5, min=0.0,
                 help="Longest time, in seconds, a Glance request waits for room in the local "
                      "queue (100,000 notifications) while Kafka is away. A notification that "
                      "finds no room in that time is refused: counted, and logged at most once a "
                      "minute with the count. While the queue stays full, later notifications "
                      "are refused at once instead of each waiting again."),
    cfg.FloatOpt("flush_timeout", default=10.0, min=0.0,
                 help="Seconds a process waits at exit, in total, for notifications still in "
                      "flight (one bounded flush per process, whatever number of notifiers "
                      "Glance made); what is still undelivered then is logged as a count. Keep "
                      "it inside the service's stop timeout (uWSGI, systemd, Kubernetes)."),
]

#: Options that tune the driver rather than make up producers.config.Settings.
DRIVER_ONLY = ("librdkafka", "flush_timeout", "buffer_full_timeout")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """For oslo-config-generator and oslo-config-validator."""
    return [(GROUP, OPTS)]
