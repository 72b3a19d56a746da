"""Physics inputs, loaded once from the versioned data file ``dsscan/data/inputs.toml``.

Every number carries its unit and citation in the data file. The conversion to the
code's natural units (GeV, seconds, mm for lengths) happens here and nowhere else.
"""
from __future__ import annotations

import functools
import hashlib
import json
import tomllib
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Mapping

# Factor that turns one unit of each supported input unit into natural units.
_TO_NATURAL = {
    "1": 1.0,
    "GeV": 1.0,
    "MeV": 1e-3,
    "TeV": 1e3,
    "GeV^-2": 1.0,
    "GeV^2": 1.0,
    "GeV s": 1.0,
    "GeV mm": 1.0,
    "s": 1.0,
    "fm": 1e-12,  # lengths are natural in mm (hbar_c is in GeV mm)
    "cm^2": 1e2,  # areas in mm^2; GeV^-2 -> mm^2 is a factor hbar_c^2
}


def to_natural(value: float, unit: str) -> float:
    """Convert ``value`` given in ``unit`` to GeV-based natural units (the one place this happens)."""
    try:
        return float(value) * _TO_NATURAL[unit]
    except KeyError:
        raise ValueError(f"unknown unit {unit!r}; known units: {sorted(_TO_NATURAL)}") from None


MeV = to_natural(1.0, "MeV")  # one MeV in GeV, for the user-facing parameter boundary


@dataclass(frozen=True)
class Inputs:
    """Input values in natural units (``values``), with their sources and the file's version."""

    values: Mapping[str, float]
    sources: Mapping[str, str]
    units: Mapping[str, str]
    version: str
    sha256: str

    def __getattr__(self, name: str) -> float:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(f"no physics input named {name!r}") from None


def parse_inputs(text: bytes) -> Inputs:
    """Inputs from the text of an inputs file in the format of ``dsscan/data/inputs.toml``."""
    doc = tomllib.loads(text.decode())
    version = doc.pop("version")
    values, sources, units = {}, {}, {}
    for name, entry in doc.items():
        missing = {"value", "unit", "source"} - set(entry)
        if missing:
            raise ValueError(f"inputs.toml: entry {name!r} lacks {sorted(missing)}")
        values[name] = to_natural(entry["value"], entry["unit"])
        sources[name] = entry["source"]
        units[name] = entry["unit"]
    return Inputs(
        values=MappingProxyType(values),
        sources=MappingProxyType(sources),
        units=MappingProxyType(units),
        version=version,
        sha256=hashlib.sha256(text).hexdigest(),
    )


@functools.cache
def load_inputs() -> Inputs:
    """The packaged inputs, parsed once per process."""
    return parse_inputs(resources.files("dsscan").joinpath("data/inputs.toml").read_bytes())


def subset_sha256(names: tuple[str, ...]) -> str:
    """Hash of the named input values, to key a table that depends on those inputs only."""
    inp = load_inputs()
    return hashlib.sha256(json.dumps({n: inp.values[n] for n in sorted(names)}).encode()).hexdigest()
