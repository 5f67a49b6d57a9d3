"""`streams.rows.RULES` compiled into one function per event type, for `Aggregator.apply`.

A plan is `plan(rec, record, event_type, prefix) -> (row key texts, amounts)`, the same rows in
the same order as `rows.interpret` (tests/unit/test_rows.py checks them against each other).
Reading the table literally costs a function call per expression and a string join per row;
a plan evaluates each distinct condition and expression once, inline, and caches the key texts
by what they are made of (partition prefix and label values), so the usual record builds no
string at all. Plans are generated per selection of rules (the rules an event type matches),
so event types that match the same rules share one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from producers.generated import define

from .rows import NAMESPACE, RULES, Expr, Fate, Rule, applies

Plan = Callable[[Any, "dict[str, Any] | None", str, str], tuple[tuple[str, ...], tuple[int, ...]]]

#: Bound on the cached key texts (cleared when full; a few MB at most).
KEY_CACHE_SIZE = 8_192
#: Bound on the event types remembered (any producer may send new ones to the "other" topic).
EVENT_TYPES_SIZE = 1_024


class Plans:
    def __init__(self, event_types: Iterable[str] = ()) -> None:
        self._keys: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._ids = itertools.count()
        self._by_selection: dict[tuple[int, ...], Plan] = {}
        #: The generated code, for reading it.
        self.sources: list[str] = []
        #: event type -> its plan; read directly on the hot path, filled by `for_event`.
        self.by_event: dict[str, Plan] = {}
        for event_type in event_types:
            self.for_event(event_type)
        self.fates: dict[Fate, Plan] = {fate: self._plan(fate) for fate in Fate}

    def for_event(self, event_type: str) -> Plan:
        plan = self.by_event.get(event_type)
        if plan is None:
            if len(self.by_event) >= EVENT_TYPES_SIZE:
                self.by_event.clear()
            plan = self.by_event[event_type] = self._plan(event_type)
        return plan

    def _plan(self, on: str | Fate) -> Plan:
        selection = tuple(i for i, rule in enumerate(RULES) if applies(rule, on))
        plan = self._by_selection.get(selection)
        if plan is None:
            plan = self._by_selection[selection] = self._compile(
                [RULES[i] for i in selection], decoded=isinstance(on, str))
        return plan

    def _compile(self, rules: list[Rule], *, decoded: bool) -> Plan:
        conditions = list(dict.fromkeys(rule.when for rule in rules if rule.when))
        lines = ["def plan(rec, record, event_type, prefix):"]
        if decoded:
            lines += ['    priority = record["priority"]', '    payload = record["payload"]']
        if conditions:
            lines.append("    m = 0")
        for bit, when in enumerate(conditions):
            test = " and ".join(f"({cond.source})" for cond in when)
            lines.append(f"    if {test}:")
            lines.append(f"        m |= {1 << bit}")
        # Every combination of the conditions, most rules first, each one straight branch;
        # the last (none held) without a test.
        for mask in range((1 << len(conditions)) - 1, -1, -1):
            held = {when for bit, when in enumerate(conditions) if mask >> bit & 1}
            chosen = [rule for rule in rules if not rule.when or rule.when in held]
            if mask:
                lines.append(f"    if m == {mask}:")
            lines += self._branch(chosen, "        " if mask else "    ")
        namespace: dict[str, Any] = {**NAMESPACE, "keys_cache": self._keys,
                                     "keys_get": self._keys.get, "LIMIT": KEY_CACHE_SIZE}
        self.sources.append("\n".join(lines))
        return define(self.sources[-1], "<row plan>", namespace)["plan"]  # type: ignore[no-any-return]

    def _branch(self, rules: list[Rule], indent: str) -> list[str]:
        local: dict[Expr, str] = {}
        lines = []
        for expr in [*(e for rule in rules for e in rule.key), *(rule.value for rule in rules)]:
            if expr not in local and not expr.source.isdigit():
                local[expr] = f"v{len(local)}"
                lines.append(f"{indent}{local[expr]} = {expr.source}")
        labels = [local[e] for e in dict.fromkeys(e for rule in rules for e in rule.key)]
        texts = []
        for rule in rules:
            kind = rule.kind.value.replace("{", "{{").replace("}", "}}")
            texts.append('f"{prefix}' + kind + "".join(f"|{{{local[e]}}}" for e in rule.key) + '"')
        amounts = [local.get(rule.value, rule.value.source) for rule in rules]
        lines += [
            f"{indent}ck = ({next(self._ids)}, prefix, {''.join(f'{v}, ' for v in labels)})",
            f"{indent}keys = keys_get(ck)",
            f"{indent}if keys is None:",
            f"{indent}    if len(keys_cache) >= LIMIT:",
            f"{indent}        keys_cache.clear()",
            f"{indent}    keys = keys_cache[ck] = ({''.join(f'{t}, ' for t in texts)})",
            f"{indent}return keys, ({''.join(f'{a}, ' for a in amounts)})",
        ]
        return lines
