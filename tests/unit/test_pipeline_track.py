"""Offsets become committable only once their own batch's changelog write has succeeded."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.app import Pipeline


class _Consumer:
    def __init__(self, committed: list[dict[Any, int]]) -> None:
        self.committed = committed

    async def _commit_offsets(self, offsets: dict[Any, int]) -> bool:
        self.committed.append({(tp.topic, tp.partition): o for tp, o in offsets.items()})
        return True


class _App:
    def __init__(self) -> None:
        self.consumer = _Consumer([])


def _pipeline() -> Pipeline:
    none: Any = None
    app: Any = _App()
    pipeline = Pipeline(app=app, table=none, aggregator=none, source_topics=[], settings=none)
    pipeline.committed = app.consumer.committed  # type: ignore[attr-defined]
    return pipeline


def test_offsets_wait_for_their_write_and_a_failed_write_stops_the_worker() -> None:
    async def scenario() -> list[Any]:
        pipeline = _pipeline()
        loop = asyncio.get_running_loop()
        first, second, third = (loop.create_future() for _ in range(3))
        seen: list[Any] = [pipeline.track(first, {("t", 0): 10})]
        seen.append(pipeline.track(second, {("t", 0): 20, ("t", 1): 5}) is first)
        seen.append(dict(pipeline.uncommitted))  # nothing written yet
        first.set_result(3)
        await pipeline.commit()
        seen.append(list(pipeline.committed))  # type: ignore[attr-defined]
        second.set_exception(RuntimeError("broker refused"))
        try:
            pipeline.track(third, {("t", 1): 9})
        except RuntimeError as exc:
            seen.append(str(exc))
        seen.append(dict(pipeline.uncommitted))  # the failed batch's offsets never arrive
        return seen

    assert asyncio.run(scenario()) == [None, True, {}, [{("t", 0): 10}], "broker refused", {}]


def test_settle_waits_for_the_last_write() -> None:
    async def scenario() -> dict[Any, int]:
        pipeline = _pipeline()
        write = asyncio.get_running_loop().create_future()
        pipeline.track(write, {("t", 2): 7})
        asyncio.get_running_loop().call_later(0.05, write.set_result, 1)
        await pipeline.settle()
        return pipeline.uncommitted

    assert asyncio.run(scenario()) == {("t", 2): 7}
