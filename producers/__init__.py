"""Publishing Glance notifications as Avro records to per-type Kafka topics."""

import warnings

# authlib (pulled in by confluent-kafka's registry client) warns about its own httpx module at
# import time; it is not ours to fix and would print on every command.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
