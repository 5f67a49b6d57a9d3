"""Publishing Glance notifications as Avro records to per-type Kafka topics."""

import contextlib
import warnings

# authlib (pulled in by confluent-kafka's registry client) warns about its own httpx module at
# import, and forces its warnings on with a filter of its own; ours goes in front of it.
with contextlib.suppress(ImportError):
    import authlib.deprecate  # noqa: F401
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
