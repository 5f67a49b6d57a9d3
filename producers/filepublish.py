"""`glance-kafka publish`: JSON lines to Kafka, with an account of every line when it ends.

Each line read is tracked until the broker confirms it (on its topic, or on the dead-letter topic
with a reason). Whatever is not confirmed when the run ends (Kafka away past the message
timeout, or SIGTERM/Ctrl-C and the grace period ran out) is written, as the original lines, to a
file named on stderr, so `glance-kafka publish THAT-FILE` sends exactly what is missing.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Full, Queue
from typing import Any, TextIO

from confluent_kafka import KafkaError, Message

from .exceptions import (
    BrokerError,
    DeliveryError,
    GlanceKafkaError,
    InputError,
    InvalidNotification,
    QueueFull,
)
from .publisher import Publisher

log = logging.getLogger(__name__)

#: Seconds between two progress lines on a terminal.
PROGRESS_EVERY = 1.0
#: How long one attempt waits for room in a full local queue before looking at signals again.
QUEUE_WAIT = 0.5


#: Bytes per read: a chunk's lines travel to the publishing thread together.
CHUNK = 1 << 16


@dataclass
class Input:
    """Where lines come from: chunks of them, and whether a read can wait for a writer."""

    chunks: Iterator[list[bytes]]
    #: A pipe or a terminal (not a regular file): read on a thread, so waiting for input never
    #: stops deliveries, progress or signals.
    may_block: bool


def open_input(path: str) -> Input:
    """The non-empty lines of `path` (- for stdin) in chunks, each as soon as it was read;
    InputError if it cannot be opened (now) or read (later)."""
    try:
        # Unbuffered: a read returns what a pipe or terminal has, without waiting for a full chunk.
        stream = (getattr(sys.stdin.buffer, "raw", sys.stdin.buffer) if path == "-"
                  else open(path, "rb", buffering=0))  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        regular = stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):  # no file descriptor (an in-memory stream): may as well block
        regular = False
    return Input(_chunks(stream, path), may_block=not regular)


def _chunks(stream: Any, path: str) -> Iterator[list[bytes]]:
    with stream:
        tail = b""
        while True:
            try:
                data = stream.read(CHUNK)
            except OSError as exc:
                raise InputError(f"reading {path} failed: {exc.strerror}") from None
            if not data:
                break
            lines = (tail + data).split(b"\n")
            tail = lines.pop()
            chunk = [line for line in map(bytes.strip, lines) if line]
            if chunk:
                yield chunk
        if tail.strip():
            yield [tail.strip()]


#: What the reading thread puts last on its queue.
_END = object()


@dataclass
class Ledger:
    """Every line read, until the broker confirms it."""

    dlq_topic: str
    read: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    failed: int = 0
    #: Lines read and not yet confirmed, by read order (sequence number).
    pending: dict[int, bytes] = field(default_factory=dict)

    def add(self, line: bytes) -> Any:
        """Note a line; returns its delivery callback."""
        seq = self.read
        self.read += 1
        self.pending[seq] = line

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.failed += 1
            elif self.pending.pop(seq, None) is not None:
                if msg.topic() == self.dlq_topic:
                    self.dead_lettered += 1
                else:
                    self.delivered += 1

        return on_delivery


class Progress:
    """One self-overwriting line on a terminal; nothing at all when stderr is not one."""

    def __init__(self, stream: TextIO, ledger: Ledger) -> None:
        self.stream = stream
        self.ledger = ledger
        self.enabled = stream.isatty()
        self.started = self.last = time.monotonic()
        self.last_read = 0
        self.shown = False

    def tick(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return
        rate = (self.ledger.read - self.last_read) / max(now - self.last, 1e-6)
        self.last, self.last_read = now, self.ledger.read
        ledger = self.ledger
        self.stream.write(f"\r{ledger.read} read, {rate:.0f} records/s, {ledger.delivered} "
                          f"delivered, {ledger.dead_lettered} dead-lettered, "
                          f"{len(ledger.pending)} in flight\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@dataclass
class Outcome:
    ledger: Ledger
    signal: int | None = None
    undelivered_file: Path | None = None
    #: The input broke off midway; what was read before is accounted for all the same.
    input_error: InputError | None = None


class FilePublish:
    """One publish run: read, publish, wait for confirmations, account for every line."""

    def __init__(self, publisher: Publisher, *, grace: float, undelivered_path: Path | None,
                 stream: TextIO | None = None) -> None:
        self.publisher = publisher
        self.grace = grace
        self.undelivered_path = undelivered_path
        self.stream = stream = stream or sys.stderr
        self.ledger = Ledger(publisher.settings.dlq_topic)
        self.progress = Progress(stream, self.ledger)
        self.signal: int | None = None
        self.deadline: float | None = None
        self._handover = threading.Lock()
        self._reading_stopped = False

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signal is not None:  # a second one: stop waiting now
            self.deadline = time.monotonic()
        self.signal = signum

    def run(self, source: Input) -> Outcome:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        input_error = None
        try:
            chunks = self._from_thread(source.chunks) if source.may_block else source.chunks
            try:
                self._publish_all(chunks)
            except InputError as exc:
                input_error = exc
            finally:
                chunks.close()  # hands what the thread has read over as unsent; closes the file
            self._drain()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.progress.clear()
        return Outcome(self.ledger, self.signal, self._write_undelivered(), input_error)

    def _publish_all(self, chunks: Iterable[list[bytes]]) -> None:
        for chunk in chunks:
            for i, line in enumerate(chunk):
                if self.signal is not None:
                    return self._unsent(chunk[i:])
                if not self._publish(line):
                    return self._unsent(chunk[i + 1:])
                self.progress.tick()
            if self.signal is not None:
                return None
        return None

    def _unsent(self, lines: Iterable[bytes]) -> None:
        """Lines read but never handed to Kafka (stopped first): undelivered, like the rest."""
        for line in lines:
            self.ledger.add(line)

    def _from_thread(self, chunks: Iterator[list[bytes]]) -> Iterator[list[bytes]]:
        """The chunks, read on a thread; polls deliveries and draws progress while none comes.

        When a signal stops it, every chunk the thread has read goes to the ledger as unsent,
        so nothing read from a pipe is lost on the way out.
        """
        queue: Queue[Any] = Queue(maxsize=64)

        def read() -> None:
            try:
                for chunk in chunks:
                    while True:
                        with self._handover:
                            if self._reading_stopped:
                                return self._unsent(chunk)
                            try:
                                queue.put_nowait(chunk)
                                break
                            except Full:
                                pass
                        time.sleep(0.01)
            except InputError as exc:
                queue.put(exc)
            queue.put(_END)
            return None

        threading.Thread(target=read, name="publish-input", daemon=True).start()
        try:
            while self.signal is None:
                try:
                    chunk = queue.get(timeout=0.2)
                except Empty:
                    self.publisher.poll(0)
                    self.progress.tick()
                    continue
                if chunk is _END:
                    return
                if isinstance(chunk, InputError):
                    raise chunk
                yield chunk
        finally:
            with self._handover:
                self._reading_stopped = True
                while True:
                    try:
                        chunk = queue.get_nowait()
                    except Empty:
                        break
                    if isinstance(chunk, list):
                        self._unsent(chunk)

    def _publish(self, line: bytes) -> bool:
        """Hand one line to the publisher; False if a signal came while waiting for room."""
        on_delivery = self.ledger.add(line)
        while True:
            try:
                self.publisher.publish(line, on_delivery=on_delivery)
            except QueueFull:  # Kafka slow or away: wait for room, unless told to stop
                if self.signal is not None:
                    return False
                continue
            except InvalidNotification as exc:  # on the dead-letter topic, with its reason
                log.info("dead-lettered: %s", exc)
            except DeliveryError as exc:  # refused outright: stays pending, so undelivered
                log.error("%s", exc)
            return True

    def _drain(self) -> None:
        """Wait for confirmations: until none is outstanding, or the grace after a signal ends."""
        producer = self.publisher.producer
        announced = False
        while len(producer) and self.ledger.pending:
            if self.signal is not None:
                if self.deadline is None:
                    self.deadline = time.monotonic() + self.grace
                if not announced:
                    self.progress.clear()
                    print(f"stopping ({signal.Signals(self.signal).name}): waiting up to "
                          f"{self.grace:g} s for {len(self.ledger.pending)} records in flight",
                          file=self.stream, flush=True)
                    announced = True
                if time.monotonic() >= self.deadline:
                    break
            producer.flush(0.2)
            self.progress.tick()
        if len(producer):
            # Given up on: their callbacks fire now (as failures), and the producer closes fast.
            producer.purge()
            producer.poll(0.1)

    def _write_undelivered(self) -> Path | None:
        pending = self.ledger.pending
        if not pending:
            return None
        path = self.undelivered_path or Path(
            f"glance-kafka-undelivered-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.jsonl")
        try:
            with open(path, "wb") as out:
                for seq in sorted(pending):
                    out.write(pending[seq] + b"\n")
        except OSError as exc:
            raise GlanceKafkaError(
                f"{len(pending)} records were not delivered, and writing them to {path} failed "
                f"({exc.strerror}); choose a writable --undelivered-file") from None
        return path


def report(outcome: Outcome, publisher: Publisher, stream: TextIO, strict: bool) -> int:
    """The summary line; returns the exit code, or raises the error that says why lines are left."""
    ledger = outcome.ledger
    stats = publisher.stats
    reasons = ", ".join(f"{r}={n}" for r, n in sorted(stats.dead_letters_by_reason.items()))
    undelivered = len(ledger.pending)
    print(f"read {ledger.read}, delivered {ledger.delivered}, dead-lettered "
          f"{ledger.dead_lettered}"
          + (f" ({reasons}) to {publisher.settings.dlq_topic}"
             if reasons and ledger.dead_lettered else "")
          + f", not delivered {undelivered}"
          + (f" (stopped by {signal.Signals(outcome.signal).name})" if outcome.signal else ""),
          file=stream, flush=True)
    if undelivered:
        where = (f"{undelivered} records not delivered; their lines are in "
                 f"{outcome.undelivered_file} (publish that file to send them)")
        if publisher.reachability.down:
            raise BrokerError(f"cannot reach Kafka at {publisher.settings.bootstrap_servers} "
                              f"({publisher.reachability.reason}): {where}")
        raise DeliveryError(where)
    if outcome.input_error is not None:
        raise outcome.input_error
    if outcome.signal is not None:
        return 128 + outcome.signal
    return 1 if strict and ledger.dead_lettered else 0
