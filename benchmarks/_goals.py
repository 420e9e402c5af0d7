"""The one goal-line format every benchmark ends with (see DESIGN.md):

    goal <name>: <measured> <unit> (target <op> <value>) met|missed
"""

from __future__ import annotations

import operator

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


def goal(
    name: str, measured: float, unit: str, op: str, target: float, *, ok: bool | None = None, echo: bool = True
) -> str:
    """Return (and print, if ``echo``) a goal line; ``ok`` overrides the comparison (e.g. parity also required)."""
    met = _OPS[op](measured, target) if ok is None else ok
    line = f"goal {name}: {measured:.4g} {unit} (target {op} {target:g}) {'met' if met else 'missed'}"
    if echo:
        print(line, flush=True)
    return line
