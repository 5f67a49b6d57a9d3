"""One error tree: every exception class the product defines, and every class its `raise`
statements name, derives from GlanceKafkaError and so has its exit code in the one table."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
from pathlib import Path
from typing import Any

from producers.exceptions import EXIT_CODES, GlanceKafkaError

ROOT = Path(__file__).resolve().parents[2]
#: producers/__main__.py runs the CLI (and exits) when imported; it defines and raises nothing.
NOT_IMPORTED = {"producers.__main__"}
#: (module, class) a `raise` may name outside the tree, and why.
ALLOWED_RAISES = {
    ("producers.cli", "ArgumentTypeError"):
        "argparse's protocol: a type= function raises it, argparse prints the usage error, exit 2",
    ("producers.registry", "SchemaRegistryError"):
        "the manifest client stands in for confluent's registry client, whose serializers "
        "expect that client's error",
    ("streams", "AttributeError"):
        "a module's __getattr__ must raise AttributeError for a name it does not have (PEP 562)",
    ("streams.demo.run", "KeyboardInterrupt"):
        "the demo's SIGTERM/SIGHUP handler takes the Ctrl-C path, which stops the broker and "
        "worker the demo started",
}


def _modules() -> dict[str, Path]:
    """Every module of both packages, subpackages (streams.demo) included, and its file."""
    names = {}
    for package in ("producers", "streams"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if name not in NOT_IMPORTED:
                names[name] = path
    return names


def test_every_exception_class_is_a_glance_kafka_error_with_an_exit_code() -> None:
    classes = {}
    for name in _modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == name):
                classes[f"{name}.{obj.__qualname__}"] = obj
    # The walk sees classes of both packages, private ones included (not a vacuous pass).
    assert {"streams.changelog.ChangelogWriteError", "producers.rabbit.TapConnectionError",
            "producers.rabbit._Stopped", "producers.exceptions.QueueFull"} <= set(classes)
    outside = sorted(n for n, c in classes.items() if not issubclass(c, GlanceKafkaError))
    assert outside == []
    no_code = sorted(n for n, c in classes.items() if c.exit_code not in EXIT_CODES)
    assert no_code == []


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object a raise names (`X`, `X(...)`, `a.b.X(...)`), or None for a local name."""
    if isinstance(node, ast.Call):
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    obj = namespace.get(node.id, getattr(builtins, node.id, None))
    for part in parts:
        obj = getattr(obj, part, None)
    return obj


def test_raise_statements_raise_only_the_product_s_errors() -> None:
    wrong, checked, allowed = [], 0, set()
    for name, path in _modules().items():
        module = importlib.import_module(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue  # a bare `raise` re-raises what was caught
            target = _resolve(node.exc, vars(module))
            if not inspect.isclass(target):
                continue  # an instance made elsewhere (a caught error, from_kafka(...))
            checked += 1
            if (name, target.__name__) in ALLOWED_RAISES:
                allowed.add((name, target.__name__))
            elif not issubclass(target, GlanceKafkaError):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} raises {target.__name__}")
    assert wrong == []
    assert checked > 50  # the walk saw the product's raises, not nothing
    assert allowed == set(ALLOWED_RAISES)  # no stale allowance
