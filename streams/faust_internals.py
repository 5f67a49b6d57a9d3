"""Every private part of Faust (faust-streaming, mode-streaming) and aiokafka the worker relies on.

Nothing else in streams/ touches an underscore name of theirs, or overrides one: it calls the
functions and subclasses the classes below. tests/unit/test_faust_internals.py checks that each
symbol listed here still exists on the installed packages, with the kind and signature this
module expects, so an upgrade that removes or changes one fails there, naming it and the version.

Overridden (Faust calls them; no public hook does the same):

- ``faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._create_worker_consumer(transport)``:
  the one place the worker's aiokafka consumer is built, so the one place to set its fetch wait
  and wrap its client before it starts (`ConsumerThread`).
- ``faust.transport.drivers.aiokafka.Consumer._new_consumer_thread()``: makes the consumer use
  that thread class (`HookedConsumer`).
- ``faust.transport.consumer.Consumer._drain_messages(fetcher)`` (coroutine, run by
  Faust's Fetcher): Faust's fetch loop, which delivers record by record;
  ours hands each fetch over whole (`HookedConsumer.fetch_loop`, streams.ingest).
- ``faust.App._new_transport()``: makes the app use a transport whose Consumer is ours
  (`HookedApp`); Faust picks transports by URL scheme only.
- ``faust.transport.drivers.aiokafka.AIOKafkaConsumerThread.on_thread_stop()`` (coroutine; a
  public mode hook, listed for what it holds): its aiokafka consumer's stop, which raises with
  Kafka away (`ConsumerThread.on_thread_stop`).
- ``faust.Worker._on_sigterm()`` and ``faust.Worker._on_sigint()``: the only code run on the
  signal itself, before Faust's unbounded shutdown starts (`SignalHookWorker`, streams.worker).

Read or called:

- ``mode.Service._stopped`` (an Event) of the consumer and of the fetcher: the fetch loop ends
  when either is set, as Faust's own does (`Fetch.ended`).
- ``faust.transport.consumer.Consumer._wait_next_records(timeout)`` (coroutine): one fetch,
  honouring Faust's flow control (`Fetch.next_records`).
- ``faust.transport.drivers.aiokafka.Consumer._to_message(tp, record)``: a record as Faust's
  Message, for the topics still delivered Faust's way (the table's changelog during recovery).
- ``faust.transport.consumer.Consumer._buffered_partitions`` (a set, replaced on rebalances):
  partitions whose records Faust keeps although no longer "active" (`Fetch.buffered`).
- ``faust.transport.consumer.Consumer._commit_offsets(offsets, start_new_transaction=True)``
  (coroutine): Faust's commit step without its per-message ack bookkeeping, which the batches
  bypass (`commit_offsets`).
- ``faust.transport.drivers.aiokafka.Consumer._thread`` and
  ``faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._ensure_consumer()``: the aiokafka
  consumer, to seek it on its own thread (`on_consumer_thread`).
- ``faust.App._consumer``: the app's consumer if it exists; ``App.consumer`` would create one
  (`started_consumer`).
- ``aiokafka.AIOKafkaConsumer._fetch_max_wait_ms`` (set in ``__init__``, read by ``start()``
  to build its Fetcher): Faust hard-codes 1.5 s (`set_fetch_wait`).
- ``aiokafka.AIOKafkaConsumer._client`` and its coroutine
  ``aiokafka.AIOKafkaClient.send(node_id, request, *, group)``: every broker response passes
  there; aiokafka has no hook for "the broker answered" (`on_every_response`).

Relied on, though not underscored (so used in place, streams.changelog and streams.tables), and
checked with the rest: ``faust.stores.memory.Store.data``, the dict a memory:// table keeps its
rows in (set in ``__post_init__``, undocumented), read and written without Faust's per-key changelog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka
import aiokafka.errors
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)

# -- aiokafka ---------------------------------------------------------------------------------

def set_fetch_wait(consumer: aiokafka.AIOKafkaConsumer, ms: int) -> None:
    """The long-poll wait of the consumer's fetches; effective if set before start()."""
    consumer._fetch_max_wait_ms = ms  # type: ignore[attr-defined]


def on_every_response(consumer: aiokafka.AIOKafkaConsumer, answered: Callable[[], None]) -> None:
    """Call `answered` on every response the consumer's client gets (fetches, heartbeats,
    metadata)."""
    client = consumer._client
    send = client.send

    async def send_noting_answers(*args: Any, **kwargs: Any) -> Any:
        response = await send(*args, **kwargs)
        answered()
        return response

    client.send = send_noting_answers  # type: ignore[method-assign]


# -- Faust's consumer -------------------------------------------------------------------------

class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, handing each aiokafka consumer it builds to
    `HookedConsumer.worker_consumer_built` before it starts, and stopping with Kafka away
    without a traceback."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        self.consumer.worker_consumer_built(consumer)  # type: ignore[attr-defined]
        return consumer

    async def on_start(self) -> None:
        self.thread_loop.set_exception_handler(_kafka_errors_in_one_line)
        await super().on_start()

    async def on_thread_stop(self) -> None:
        try:
            await super().on_thread_stop()
        except asyncio.CancelledError:
            # aiokafka's Fetcher.close() cancels its fetch tasks and awaits them; one backing off
            # after a failed fetch (Kafka away) raises the CancelledError out of close(), which
            # ended this thread with a traceback and left the worker waiting for its bounded stop.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this stop itself was cancelled
            log.warning("stream worker: the Kafka consumer stopped without closing its "
                        "connections (is Kafka reachable?)")


def _kafka_errors_in_one_line(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A Kafka request nobody waits for any more (aiokafka shields its commits) that fails, as
    one line instead of asyncio's "Task exception was never retrieved" and a traceback."""
    error = context.get("exception")
    if isinstance(error, aiokafka.errors.KafkaError):
        log.warning("stream worker: a Kafka request left behind failed: %s", error)
        return
    loop.default_exception_handler(context)


class Fetch:
    """What a fetch loop needs of Faust's consumer and fetcher, by name."""

    def __init__(self, consumer: faust_aiokafka.Consumer, fetcher: Any) -> None:
        self._consumer = consumer
        self.fetcher = fetcher
        consumer_stopped = consumer._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        #: Whether the loop must end (the consumer or the fetcher stopping).
        self.ended: Callable[[], bool] = lambda: consumer_stopped() or fetcher_stopped()
        #: One fetch: (records by partition, the active partitions), empty while flow is off.
        self.next_records: Callable[[float], Awaitable[tuple[Any, Any]]] = (
            consumer._wait_next_records)
        #: A record as Faust's Message, for Faust's own per-message delivery.
        self.to_message: Callable[[Any, Any], Any] = consumer._to_message

    @property
    def buffered(self) -> set[Any]:
        """Partitions Faust still delivers though not active (replaced on rebalances)."""
        return self._consumer._buffered_partitions


class HookedConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka Consumer with its private hooks as two named methods."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        await self.fetch_loop(Fetch(self, fetcher))

    def worker_consumer_built(self, consumer: aiokafka.AIOKafkaConsumer) -> None:
        """Called on the consumer's thread with each aiokafka consumer, before it starts."""

    async def fetch_loop(self, fetch: Fetch) -> None:
        """Replaces Faust's fetch loop (run here unless overridden); runs until `fetch.ended()`."""
        await super()._drain_messages(fetch.fetcher)


async def commit_offsets(consumer: Any, offsets: dict[Any, int]) -> bool:
    """Commit `offsets` ({TP: next offset}) through Faust's commit step."""
    return bool(await consumer._commit_offsets(offsets))


async def on_consumer_thread(consumer: faust_aiokafka.Consumer,
                             fun: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """`await fun(aiokafka_consumer, *args)` on the consumer's own thread (aiokafka is not
    thread-safe)."""
    thread = consumer._thread
    return await thread.call_thread(fun, thread._ensure_consumer(), *args)


# -- Faust's app, tables and worker -----------------------------------------------------------

class HookedApp(faust.App):
    """A Faust app whose transport's Consumer is `consumer_class`."""

    consumer_class: type[HookedConsumer] = HookedConsumer

    def _new_transport(self) -> Any:
        transport = type("Transport", (faust_aiokafka.Transport,),
                         {"Consumer": self.consumer_class})
        return transport(self.conf.broker_consumer, self)


def started_consumer(app: faust.App) -> Any | None:
    """The app's consumer, None before it exists (without creating it)."""
    return getattr(app, "_consumer", None)


class SignalHookWorker(faust.Worker):
    """A Faust worker calling `on_stop_signal()` on SIGTERM and SIGINT, before Faust's stop."""

    def _on_sigterm(self) -> None:
        self.on_stop_signal()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self.on_stop_signal()
        super()._on_sigint()

    def on_stop_signal(self) -> None:
        """Runs on the signal, in the event loop's thread."""
