"""The demo (`glance-kafka demo`): simulated Glance traffic through the real pipeline, a live view
and a self-check. Demo code ships with the [demo] extra (rich, the embedded broker): the base
install, which is what goes into Glance's environment, never imports it.
"""

from producers.extras import require

require("demo")

from .run import run_demo  # noqa: E402 - after the check, so a missing extra is one clear line

__all__ = ["run_demo"]
