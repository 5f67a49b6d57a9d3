"""The Faust, mode and aiokafka internals streams/faust_internals.py lists are still there.

They are private: a minor release may rename, remove or reshape any of them, and the worker would
then fail at run time (or, for an overridden hook no longer called, silently fall back to Faust's
own behaviour). Each one is checked here on the installed packages, against what the worker
expects of it, written out below independently of the module; a failure names the symbol and the
package version.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import streams.faust_internals

STREAMS = Path(streams.faust_internals.__file__).parent
DISTRIBUTIONS = {"faust": "faust-streaming", "mode": "mode-streaming", "aiokafka": "aiokafka"}


@dataclass(frozen=True)
class Expected:
    #: "method", "coroutine", "class attribute" (declared on the class or a base), or
    #: "instance attribute" (assigned in the class's own __init__ or __post_init__).
    kind: str
    #: Parameter names after self, for methods and coroutines.
    parameters: tuple[str, ...] = ()
    #: For hooks we override or attributes we set: "dotted.Owner.member" whose source must still
    #: mention the symbol (so Faust or aiokafka still calls or reads it there).
    used_by: str | None = None


FA = "faust.transport.drivers.aiokafka"
FC = "faust.transport.consumer"
EXPECTED: dict[str, Expected] = {
    f"{FA}.AIOKafkaConsumerThread._create_worker_consumer":
        Expected("method", ("transport",), used_by=f"{FA}.AIOKafkaConsumerThread"),
    f"{FA}.Consumer._new_consumer_thread":
        Expected("method", (), used_by=f"{FC}.ThreadDelegateConsumer.__init__"),
    f"{FC}.Consumer._drain_messages":
        Expected("coroutine", ("fetcher",), used_by=f"{FC}.Fetcher"),
    f"{FA}.AIOKafkaConsumerThread.on_thread_stop":
        Expected("coroutine", (), used_by="mode.threads.ServiceThread"),
    "faust.App._new_transport": Expected("method", (), used_by="faust.App"),
    "faust.Worker._on_sigterm": Expected("method", (), used_by="mode.Worker"),
    "faust.Worker._on_sigint": Expected("method", (), used_by="mode.Worker"),
    "mode.Service._stopped": Expected("class attribute"),
    f"{FC}.Consumer._wait_next_records": Expected("coroutine", ("timeout",)),
    f"{FA}.Consumer._to_message": Expected("method", ("tp", "record")),
    f"{FC}.Consumer._buffered_partitions": Expected("class attribute"),
    f"{FC}.Consumer._commit_offsets":
        Expected("coroutine", ("offsets", "start_new_transaction")),
    f"{FA}.Consumer._thread": Expected("class attribute"),
    f"{FA}.AIOKafkaConsumerThread._ensure_consumer": Expected("method", ()),
    "faust.App._consumer": Expected("class attribute"),
    "aiokafka.AIOKafkaConsumer._fetch_max_wait_ms":
        Expected("instance attribute", used_by="aiokafka.AIOKafkaConsumer.start"),
    "aiokafka.AIOKafkaConsumer._client": Expected("instance attribute"),
    "aiokafka.AIOKafkaClient.send": Expected("coroutine", ("node_id", "request", "group")),
    "faust.stores.memory.Store.data": Expected("instance attribute"),
}


def _version(symbol: str) -> str:
    dist = DISTRIBUTIONS[symbol.split(".")[0]]
    return f"{dist} {importlib.metadata.version(dist)}"


def _resolve(dotted: str) -> Any:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def _declared(owner: type, name: str) -> bool:
    return any(name in vars(cls) or name in getattr(cls, "__annotations__", {})
               for cls in owner.__mro__)


def _assigned_in_init(owner: type, name: str) -> bool:
    """Assigned in __init__ or mode's __post_init__ (which its Service.__init__ calls)."""
    source = "".join(inspect.getsource(vars(owner)[method])
                     for method in ("__init__", "__post_init__") if method in vars(owner))
    return re.search(rf"self\.{re.escape(name)}\s*(:[^=\n]*)?=", source) is not None


def _problem(symbol: str, expected: Expected) -> str | None:
    owner_path, _, name = symbol.rpartition(".")
    try:
        owner = _resolve(owner_path)
    except (ImportError, AttributeError) as exc:
        return f"{owner_path} is gone ({exc})"
    if expected.kind in ("method", "coroutine"):
        member = inspect.getattr_static(owner, name, None)
        if member is None:
            return "no such method"
        if not inspect.isfunction(member):
            return f"is now {type(member).__name__}, not a function"
        if inspect.iscoroutinefunction(member) != (expected.kind == "coroutine"):
            return f"is no longer a {expected.kind}"
        parameters = tuple(inspect.signature(member).parameters)[1:]
        if parameters != expected.parameters:
            return f"takes {parameters}, expected {expected.parameters}"
    elif expected.kind == "class attribute":
        if not _declared(owner, name):
            return "no longer declared on the class or its bases"
    elif expected.kind == "instance attribute":
        if not _assigned_in_init(owner, name):
            return f"no longer assigned in {owner.__qualname__}.__init__ or __post_init__"
    else:
        raise AssertionError(expected.kind)
    if expected.used_by is not None:
        source = inspect.getsource(_resolve(expected.used_by))
        if not re.search(rf"\.{re.escape(name)}\b", source):
            return f"no longer used by {expected.used_by}: our override or value would be ignored"
    return None


@pytest.mark.parametrize("symbol", sorted(EXPECTED))
def test_each_internal_is_still_there_as_expected(symbol: str) -> None:
    problem = _problem(symbol, EXPECTED[symbol])
    assert problem is None, (f"{symbol} ({_version(symbol)}): {problem}; "
                             "see streams/faust_internals.py, which relies on it")


def test_aiokafka_consumer_instance_has_the_attributes_as_typed() -> None:
    """The instance attributes, on a real (unstarted) consumer: no network is touched."""
    import aiokafka

    async def build() -> tuple[Any, Any]:
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", fetch_max_wait_ms=7)
        return consumer._fetch_max_wait_ms, consumer._client

    wait, client = asyncio.run(build())
    version = _version("aiokafka")
    assert wait == 7, f"aiokafka.AIOKafkaConsumer._fetch_max_wait_ms ({version}) holds {wait!r}"
    assert inspect.iscoroutinefunction(client.send), (
        f"aiokafka.AIOKafkaConsumer._client.send ({version}) is not a coroutine function")


def test_the_docstring_lists_exactly_what_is_checked() -> None:
    doc = streams.faust_internals.__doc__ or ""
    listed = {re.sub(r"\(.*", "", m) for m in re.findall(r"``((?:faust|mode|aiokafka)\.[^`]+)``",
                                                           doc)}
    assert listed == set(EXPECTED)


def test_no_other_module_of_streams_touches_them() -> None:
    names = {symbol.rpartition(".")[2] for symbol in EXPECTED if
             symbol.rpartition(".")[2].startswith("_")}
    pattern = re.compile(r"(?:\.|\bdef |[\"'])(" + "|".join(map(re.escape, sorted(names)))
                         + r")\b")
    offenders = [f"{path.relative_to(STREAMS)}:{n}: {line.strip()}"
                 for path in sorted(STREAMS.rglob("*.py")) if path.name != "faust_internals.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []
