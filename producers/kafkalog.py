"""librdkafka's log lines through Python logging, with repeats folded.

Left alone, librdkafka prints every failed reconnect (20 a second while a broker is away) to
stderr; an operator needs the first one and a count, not a wall of them.
"""

from __future__ import annotations

import logging
import time

LOGGER = logging.getLogger("librdkafka")


class _FoldRepeats(logging.Filter):
    def __init__(self, window: float = 30.0) -> None:
        super().__init__()
        self.window = window
        self.seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key = text.split("]: ", 1)[-1].split(" (after ")[0]
        now = time.monotonic()
        first, count = self.seen.get(key, (0.0, 0))
        if now - first > self.window:
            if count > 1:
                record.msg = f"{text} (and {count - 1} more like it in {self.window:.0f}s)"
                record.args = ()
            self.seen[key] = (now, 1)
            if len(self.seen) > 1000:
                self.seen.clear()
            return True
        self.seen[key] = (first, count + 1)
        return False


LOGGER.addFilter(_FoldRepeats())
