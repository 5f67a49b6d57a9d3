"""What the tests generate must not depend on PYTHONHASHSEED: str/bytes hash() and set order
change with it, so a partition chosen by hash(), or events built by iterating a set, would give
each run different inputs (and a failure nobody can reproduce)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _digests() -> dict[str, str]:
    """A digest of each generator's output (run in the child processes)."""
    from streams.demo.simulator import TrafficGenerator
    from tests.integration.test_stream_exactness import synthetic_events
    from tests.lifecycle import lifecycle_history
    from tests.mutations import bridge_order, malformed_avro, malformed_json, publisher_order
    from tests.source_log import source_log

    def digest(value: Any) -> str:
        return hashlib.sha256(json.dumps(value, default=repr).encode()).hexdigest()

    history, truth = lifecycle_history()
    events = synthetic_events(1000, seed=31)
    log = source_log(events[:500] + history[:300])
    bad = malformed_json(events, 500, seed=1)
    return {
        "lifecycle_history": digest([history, {k: sorted(map(repr, v.items()))
                                               for k, v in truth.items()}]),
        "synthetic_events": digest(events),
        "TrafficGenerator": digest(TrafficGenerator(seed=9, projects=30, rate=200.0)
                                   .next_batch(1500)),
        "source_log partitions": digest([(r.topic, r.partition, r.offset) for r in log]),
        "malformed_json": digest([(m.value.hex(), m.reason) for m in bad]),
        "malformed_avro": digest([(m.value.hex(), m.reason) for m in
                                  malformed_avro([r.value for r in log], 300, seed=3)]),
        "fuzz publisher order": digest(publisher_order(5000)),
        "fuzz bridge order": digest([v.hex() for v in bridge_order([m.value for m in bad])]),
    }


def test_generated_inputs_do_not_depend_on_the_hash_seed() -> None:
    """Generated here and in a child whose hash seed differs from this process's."""
    child_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    code = "import json, tests.unit.test_hash_seed as t; print(json.dumps(t._digests()))"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "PYTHONHASHSEED": child_seed})
    here = _digests()
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()[-2000:]
    there = json.loads(out.decode().strip().splitlines()[-1])
    assert here.keys() == there.keys()
    assert {k for k in here if here[k] != there[k]} == set()
