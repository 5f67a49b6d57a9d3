"""`glance-kafka stream`: one Faust worker, its /metrics, /healthz and /ready, clean on SIGTERM."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from producers.config import Settings
from producers.http import StatusServer
from producers.kafkalog import watch_aiokafka
from producers.options import StreamOptions

from .app import Pipeline, build
from .collector import TableCollector, computed
from .faust_internals import SignalHookWorker

log = logging.getLogger(__name__)

#: Seconds from SIGTERM/SIGINT to exit at most: inside Kubernetes' default 30 s grace period.
STOP_TIMEOUT = 20.0


class BoundedStopWorker(SignalHookWorker):
    """A Faust worker whose stop is bounded: with Kafka unreachable, Faust's own shutdown (its
    consumer's last commit, the producers' flushes, the group's leave) took 62 s.

    STOP_TIMEOUT after the signal the process exits regardless. Nothing is lost by it: offsets are
    committed only for records whose changelog rows are written (streams/app.py), so whatever was
    not committed is read again by the worker that takes the partitions over.
    """

    _stop_timer: threading.Timer | None = None

    def on_stop_signal(self) -> None:
        if self._stop_timer is None:
            self._stop_timer = threading.Timer(STOP_TIMEOUT, _exit_now)
            self._stop_timer.daemon = True
            self._stop_timer.start()


def _exit_now() -> None:
    log.error("stream worker: still stopping %.0fs after the signal (is Kafka reachable?); "
              "exiting now, uncommitted records will be read again", STOP_TIMEOUT)
    logging.shutdown()
    os._exit(1)


def metrics_registry(pipeline: Pipeline, project_label_limit: int) -> CollectorRegistry:
    registry = CollectorRegistry()

    def extra() -> Iterator[Metric]:
        yield computed("glance_consumer_lag", pipeline.lag())
        yield computed("glance_worker_assigned_partitions",
                    [([], float(len(pipeline.owned_partitions())))])
        yield computed("glance_replays_skipped_total", [([], float(pipeline.replayed))])

    registry.register(TableCollector(pipeline.table.rows, pipeline.owned_partitions,
                                     project_label_limit=project_label_limit, extra=extra))
    return registry


def run_worker(settings: Settings, options: StreamOptions) -> int:
    _tune_gc()
    pipeline = build(settings, options)
    watch_aiokafka(pipeline.reachability, keep_all=options.verbose >= 2)
    registry = metrics_registry(pipeline, options.project_label_limit)
    server = StatusServer(options.host, options.metrics_port, registry, ready=pipeline.ready,
                          healthy=pipeline.liveness.healthy).start()
    print(f"stream worker: metrics on http://{options.host}:{server.port}/metrics, "
          f"views on http://{options.host}:{options.web_port}/projects/<project>/",
          file=sys.stderr, flush=True)
    worker = BoundedStopWorker(pipeline.app, loglevel=_faust_loglevel(options.verbose), quiet=True,
                               redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        server.stop()
    return 0


def _tune_gc() -> None:
    """Collect young objects every 50,000 allocations instead of 700.

    A batch allocates tens of thousands of short-lived containers (decoded records, row values),
    and the table holds ~100k long-lived ones (the dedupe ring); with the default thresholds the
    collector kept re-scanning them and took a large share of the worker (bench/README.md,
    bench/aggregate.py). Nothing here builds reference cycles at that rate, so memory stays flat.
    """
    gc.set_threshold(50_000, 20, 50)


def _faust_loglevel(verbose: int) -> str:
    return {0: "WARNING", 1: "INFO"}.get(verbose, "DEBUG")
