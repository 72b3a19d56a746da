"""Constraint sets: named lists of bounds on observables, shipped as data (physics.md section 6).

A set is a TOML file (``dsscan/data/constraints/<name>.toml``, or any path a user gives) with a
``[[constraint]]`` table per bound. ``judge`` turns observable columns into one boolean per
constraint plus ``allowed``; a constraint whose ``applies_above`` condition is not met passes.
A set is resolved completely when it is read: every observable and condition names a column of
the schema (``dsscan.schema``), every number is finite and every bound can be met or missed, so
a mistake stops ``dsscan validate`` and ``dsscan scan`` before the lake is touched.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import math
import pathlib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Mapping

from dsscan.parameters import PARAMETER_NAMES
from dsscan.schema import OBSERVABLES

KINDS = ("upper", "lower", "window", "band")
_FIELDS_BY_KIND = {
    "upper": {"upper"},
    "lower": {"lower"},
    "window": {"lower", "upper"},
    "band": {"central", "error_up", "error_down"},
}
_COMMON = {"name", "observable", "kind", "measurement", "description", "scale", "applies_above"}
COLUMNS = (*OBSERVABLES, *PARAMETER_NAMES)  # what a constraint may bound
CONSTRAINT_NAME = re.compile(r"[A-Za-z0-9_]+")  # it names the column pass_<name>


@dataclass(frozen=True)
class Constraint:
    name: str
    observable: str
    kind: str
    lower: float  # -inf where there is none
    upper: float  # +inf where there is none
    scale: float
    applies_above: tuple[tuple[str, float], ...]  # (parameter, threshold): applies where parameter > threshold
    measurement: str
    description: str

    def bound_text(self) -> str:
        s = f"{self.scale:g} x " if self.scale != 1.0 else ""
        if self.kind == "upper":
            return f"{s}{self.observable} < {self.upper:.4g}"
        if self.kind == "lower":
            return f"{s}{self.observable} > {self.lower:.4g}"
        return f"{self.lower:.4g} <= {s}{self.observable} <= {self.upper:.4g}"


@dataclass(frozen=True)
class ConstraintSet:
    name: str
    version: str
    description: str
    source: str
    constraints: tuple[Constraint, ...]
    sha256: str = field(default="")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.constraints)

    def judge(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``pass_<name>`` for every constraint and ``allowed`` (all passed), from observable columns."""
        import numpy as np  # here: commands that only name the sets start without numpy

        out: dict[str, np.ndarray] = {}
        allowed = None
        for c in self.constraints:
            x = np.asarray(columns[c.observable]) * c.scale
            if c.kind == "upper":
                ok = x < c.upper
            elif c.kind == "lower":
                ok = x > c.lower
            else:
                ok = (x >= c.lower) & (x <= c.upper)
            for param, threshold in c.applies_above:
                ok |= ~(np.asarray(columns[param]) > threshold)
            out[f"pass_{c.name}"] = ok
            allowed = ok.copy() if allowed is None else allowed & ok
        out["allowed"] = allowed
        return out


def _column(value: str, key: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        near = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"{key}: unknown column {value!r}{hint}; expected an observable or parameter of the schema")
    return value


def _constraint(entry: dict, where: str) -> Constraint:
    if isinstance(entry.get("name"), str):
        where = f"{where} ({entry['name']})"

    def need(key: str, types: tuple[type, ...]) -> object:
        if key not in entry:
            raise ValueError(f"{where}: missing key {key!r}")
        if not isinstance(entry[key], types) or isinstance(entry[key], bool):
            raise ValueError(f"{where}.{key}: expected {' or '.join(t.__name__ for t in types)}, got {entry[key]!r}")
        return entry[key]

    def number(key: str, default: float | None = None) -> float:
        value = float(need(key, (int, float))) if default is None or key in entry else default
        if not math.isfinite(value):
            raise ValueError(f"{where}.{key}: expected a finite number, got {value!r}")
        return value

    kind = need("kind", (str,))
    if kind not in KINDS:
        raise ValueError(f"{where}.kind: expected one of {KINDS}, got {kind!r}")
    unknown = set(entry) - _COMMON - _FIELDS_BY_KIND[kind]
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} for kind {kind!r}")
    name = need("name", (str,))
    if not CONSTRAINT_NAME.fullmatch(name):
        raise ValueError(f"{where}.name: expected letters, digits and '_' (it names the column pass_<name>), got {name!r}")
    if kind == "band":
        central, up, down = (number(k) for k in ("central", "error_up", "error_down"))
        if up < 0 or down < 0:
            raise ValueError(f"{where}: error_up and error_down must be >= 0, got {up!r} and {down!r}")
        lower, upper = central - down, central + up
    else:
        lower = number("lower") if "lower" in _FIELDS_BY_KIND[kind] else -math.inf
        upper = number("upper") if "upper" in _FIELDS_BY_KIND[kind] else math.inf
    if lower > upper:
        raise ValueError(f"{where}: empty bound (lower {lower} > upper {upper})")
    scale = number("scale", 1.0)
    if scale <= 0:
        raise ValueError(f"{where}.scale: expected a number > 0, got {scale!r}")
    applies = entry.get("applies_above", {})
    if not isinstance(applies, dict) or len(applies) > 1:
        raise ValueError(f"{where}.applies_above: expected one condition, a table like {{ kappa_TeV = 0.0 }}, got {applies!r}")
    conditions = []
    for column, threshold in applies.items():
        key = f"{where}.applies_above.{column}"
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
            raise ValueError(f"{key}: expected a finite number, got {threshold!r}")
        conditions.append((_column(column, key, COLUMNS), float(threshold)))
    return Constraint(
        name=name,
        observable=_column(need("observable", (str,)), f"{where}.observable", COLUMNS),
        kind=kind,
        lower=lower,
        upper=upper,
        scale=scale,
        applies_above=tuple(conditions),
        measurement=str(need("measurement", (str,))),
        description=str(need("description", (str,))),
    )


def parse_constraint_set(text: bytes, origin: str) -> ConstraintSet:
    """Validate and parse a constraint-set TOML document; errors name the key path."""
    try:
        doc = tomllib.loads(text.decode())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"name", "version", "description", "source", "constraint"}
    if unknown:
        raise ValueError(f"{origin}: unknown top-level keys {sorted(unknown)}")
    for key in ("name", "version", "description", "source"):
        if not isinstance(doc.get(key), str):
            raise ValueError(f"{origin}: top-level {key!r} must be a string")
    entries = doc.get("constraint")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{origin}: needs at least one [[constraint]] table")
    constraints = tuple(_constraint(e, f"{origin}: constraint[{i}]") for i, e in enumerate(entries))
    names = [c.name for c in constraints]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{origin}: duplicate constraint names {dupes}")
    return ConstraintSet(
        name=doc["name"], version=doc["version"], description=doc["description"], source=doc["source"],
        constraints=constraints, sha256=hashlib.sha256(text).hexdigest(),
    )


def shipped_constraint_sets() -> tuple[str, ...]:
    folder = resources.files("dsscan").joinpath("data/constraints")
    return tuple(sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")))


@functools.cache
def load_constraint_set(name_or_path: str) -> ConstraintSet:
    """A shipped set by name (``datta2024``) or a user's copy by path (``./my_set.toml``)."""
    if name_or_path in shipped_constraint_sets():
        ref = resources.files("dsscan").joinpath(f"data/constraints/{name_or_path}.toml")
        return parse_constraint_set(ref.read_bytes(), f"{name_or_path}.toml")
    path = pathlib.Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        return parse_constraint_set(path.read_bytes(), str(path))
    raise ValueError(
        f"unknown constraint set {name_or_path!r}: expected one of {shipped_constraint_sets()} "
        "or the path of a .toml file"
    )
