"""Scan configuration: a TOML file validated into a frozen ``ScanSpec`` before any work starts.

Every mistake a user can make in a config is a ``ConfigError`` (a ``ValueError``) whose message
starts with the key path, e.g. ``parameters.U_mu4.range: log prior needs a range above 0``.
Nothing is read from the lake or written to it here; the lake root is only checked for being
writable (on an object store by writing and deleting a probe object).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import pathlib
import sys
import tomllib
from dataclasses import dataclass, field
from typing import Any

from dsscan.constraints import load_constraint_set, shipped_constraint_sets
from dsscan.parameters import PARAMETER_NAMES, domain_limits
from dsscan.points_file import file_sha256, read_points_file
from lake.layout import SCAN_NAME_RULE, chunk_file_name, is_scan_name
from lake.manifest import ChunkRecord

UNIFORM_SAMPLER = "uniform"  # independent uniform draws (dsscan.samplers)
SAMPLERS = (UNIFORM_SAMPLER, "sobol", "lhs", "adaptive", "list")
LIST_SAMPLER = "list"  # points from a file (points_file) instead of drawn
ADAPTIVE_SAMPLER = "adaptive"  # rounds of importance sampling (dsscan.adaptive)
ADAPTIVE_DEFAULTS = {"round_points": 1_000_000, "defensive_share": 0.2}
MIN_DEFENSIVE_SHARE = 0.1  # weights stay <= 1 / defensive_share <= 10
STORE_POLICIES = ("all", "allowed", "allowed+sample")
SAMPLED_STORE = "allowed+sample"  # the policy that keeps a random sample of the rejected points
PRIORS = ("uniform", "log")
SOBOL_MAX_POINTS = 2**32  # scipy's Sobol engine with 32-bit direction numbers

SCAN_DEFAULTS = {"chunk_size": 200_000, "sampler": UNIFORM_SAMPLER, "store": SAMPLED_STORE, "sample_rate": 0.01}
SCAN_REQUIRED = ("name", "seed", "points", "constraints")
LIST_KEYS = ("points_file", "points_sha256")  # only with sampler = "list"
SCAN_KEYS = SCAN_REQUIRED + tuple(SCAN_DEFAULTS) + LIST_KEYS + tuple(ADAPTIVE_DEFAULTS)
# The lake: beside where dsscan runs (a fresh clone gets a fresh lake, visible next to the code) but
# never the source tree's ``lake`` package; $DSSCAN_LAKE names one lake for every directory.
LAKE_ENV = "DSSCAN_LAKE"
LAKE_DEFAULTS = {"root": "./dsscan-lake"}
LAKE_ROOT_HELP = f"lake root: a directory or s3://bucket/prefix (default: ${LAKE_ENV}, else {LAKE_DEFAULTS['root']})"
TOP_LEVEL_KEYS = ("scan", "parameters", "lake")


class ConfigError(ValueError):
    """A config mistake; the message starts with the key path."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key


# ---------------------------------------------------------------------------------------------
# Parameter settings: a fixed number, a range with a prior, or a tie to another parameter.


@dataclass(frozen=True)
class Fixed:
    value: float

    def bounds(self) -> tuple[float, float]:
        return self.value, self.value


@dataclass(frozen=True)
class Ranged:
    """Sampled from the open interval (low, high) with a uniform or log-uniform prior."""

    low: float
    high: float
    prior: str = "uniform"

    def bounds(self) -> tuple[float, float]:
        return self.low, self.high


@dataclass(frozen=True)
class Tied:
    same_as: str


@dataclass(frozen=True)
class Listed:
    """A column of the scan's points_file (sampler = "list"), whose values span [low, high]."""

    low: float
    high: float

    def bounds(self) -> tuple[float, float]:
        return self.low, self.high


Setting = Fixed | Ranged | Tied | Listed


@dataclass(frozen=True)
class Domain:
    """The values a parameter may take (``physics.md`` section 1, ``dsscan.parameters.check_domain``).

    ``range_low``: where a range may start when the domain's lower edge is a numerical floor
    above a physical edge (a coupling > 0 floored at 1e-10): the few points a range puts under
    the floor are skipped and counted, like points with m_S >= m_nu4.
    """

    low: float
    high: float
    low_open: bool
    high_open: bool
    low_text: str = ""  # how to show the lower edge when it is another parameter
    range_low: float | None = None

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def covers(self, low: float, high: float) -> bool:
        """Whether the open interval (low, high) that a range samples lies inside the domain."""
        if self.range_low is None:
            return self.low <= low and high <= self.high
        return self.range_low <= low and self.low < high <= self.high

    def text(self, name: str) -> str:
        parts = []
        if math.isfinite(self.low):
            parts.append(f"{self.low_text or format(self.low, 'g')} {'<' if self.low_open else '<='} ")
        parts.append(name)
        if math.isfinite(self.high):
            parts.append(f" {'<' if self.high_open else '<='} {self.high:g}")
        if self.range_low is not None:
            parts.append(f" (a range may start at {self.range_low:g})")
        return "".join(parts)


def parameter_domains() -> dict[str, Domain]:
    """Per-parameter domains; ``m_S_MeV < m_nu4_MeV`` is checked across the two separately.
    Couplings are bounded by ``coupling_max``, below which every observable is finite."""
    lim = domain_limits()
    cap = lim["coupling_max"]
    signed = Domain(-cap, cap, False, False)
    m_S = Domain(lim["m_S_min_MeV"], lim["m_S_max_MeV"], True, False)
    return {
        "kappa_TeV": Domain(0.0, cap, False, False),
        "eta_d": Domain(0.0, cap, False, False),
        "eta_u": signed,
        "eta_c": signed,
        "eta_t": signed,
        "g_D": Domain(lim["g_D_min"], cap, False, False, range_low=0.0),
        "U_mu4": Domain(lim["U_mu4_min"], 1.0, False, True, range_low=0.0),
        "m_S_MeV": m_S,
        "m_nu4_MeV": Domain(m_S.low, lim["m_nu4_max_MeV"], True, False, low_text="m_S_MeV"),
    }


# ---------------------------------------------------------------------------------------------
# The validated spec.


@dataclass(frozen=True)
class ScanSpec:
    """A validated scan: what to sample, how to judge it, what to keep and where."""

    name: str
    seed: int
    points: int
    chunk_size: int
    constraints: str  # a shipped set's name or the absolute path of a user's copy
    sampler: str
    store: str
    sample_rate: float | None  # only for store = "allowed+sample"
    parameters: dict[str, Setting] = field(hash=False)  # every parameter, in PARAMETER_NAMES order
    lake_root: str  # absolute local path or s3://bucket/prefix
    points_file: str | None = None  # sampler = "list": absolute path of the CSV or Parquet file
    points_sha256: str | None = None  # ... and its checksum when the scan was planned
    round_points: int | None = None  # sampler = "adaptive": points per round of importance sampling
    defensive_share: float | None = None  # ... and the least share of each chunk drawn from the prior
    # The fitted proposal (dsscan.adaptive) of the round being run: set by the driver from the
    # manifest, never by a config; None draws from the prior.
    proposal: dict | None = field(default=None, hash=False, compare=False)

    def round_of(self, index: int) -> int:
        """The adaptive round that chunk ``index`` belongs to."""
        return index // (self.round_points // self.chunk_size)

    @property
    def n_rounds(self) -> int:
        return self.round_of(self.n_chunks - 1) + 1

    @property
    def n_chunks(self) -> int:
        return -(-self.points // self.chunk_size)

    @property
    def free_parameters(self) -> tuple[str, ...]:
        """The ranged parameters, in canonical order: the dimensions a sampler draws."""
        return tuple(n for n, s in self.parameters.items() if isinstance(s, Ranged))

    def scan_config(self) -> dict[str, Any]:
        """The config without the lake location: what the stored data depend on."""
        scan = {
            "name": self.name, "seed": self.seed, "points": self.points, "chunk_size": self.chunk_size,
            "constraints": self.constraints, "sampler": self.sampler, "store": self.store,
        }
        if self.sample_rate is not None:
            scan["sample_rate"] = self.sample_rate
        if self.points_file is not None:
            scan |= {"points_file": self.points_file, "points_sha256": self.points_sha256}
        if self.round_points is not None:
            scan |= {"round_points": self.round_points, "defensive_share": self.defensive_share}
        # A parameter the points file lists is implied by it, as in the TOML file.
        parameters = {n: _setting_dict(s) for n, s in self.parameters.items() if not isinstance(s, Listed)}
        return {"scan": scan, "parameters": parameters}

    def to_dict(self) -> dict[str, Any]:
        """The resolved config, defaults filled in, in the shape of the TOML file."""
        return {**self.scan_config(), "lake": {"root": self.lake_root}}


def _setting_dict(setting: Setting) -> float | dict[str, Any]:
    if isinstance(setting, Fixed):
        return setting.value
    if isinstance(setting, Tied):
        return {"same_as": setting.same_as}
    return {"range": [setting.low, setting.high], "prior": setting.prior}


# ---------------------------------------------------------------------------------------------
# Validation.


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{where}{key}", f"unknown key{hint}; expected one of {list(allowed)}")


def _table(doc: dict, key: str, required: bool) -> dict:
    value = doc.get(key, None if required else {})
    if value is None:
        raise ConfigError(key, f"missing table; add a [{key}] section")
    if not isinstance(value, dict):
        raise ConfigError(key, f"expected a table [{key}], got {value!r}")
    return value


def _integer(scan: dict, key: str, minimum: int) -> int:
    value = scan[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"scan.{key}", f"expected an integer >= {minimum}, got {value!r}")
    return value


def _choice(scan: dict, key: str, choices: tuple[str, ...]) -> str:
    value = scan[key]
    if value not in choices:
        raise ConfigError(f"scan.{key}", f"expected one of {list(choices)}, got {value!r}")
    return value


def _parse_scan(scan: dict) -> dict[str, Any]:
    _check_keys(scan, SCAN_KEYS, "scan.")
    for key in SCAN_REQUIRED:
        if key not in scan and not (key == "points" and scan.get("sampler") == LIST_SAMPLER):
            raise ConfigError(f"scan.{key}", "missing; required keys are " + ", ".join(SCAN_REQUIRED))
    name = scan["name"]
    if not is_scan_name(name):
        raise ConfigError("scan.name", f"expected {SCAN_NAME_RULE}, got {name!r}")
    merged = {**SCAN_DEFAULTS, **scan}
    store = _choice(merged, "store", STORE_POLICIES)
    if "sample_rate" in scan and store != SAMPLED_STORE:
        raise ConfigError("scan.sample_rate", f"only used with store = {SAMPLED_STORE!r}, but store = {store!r}")
    sample_rate = None
    if store == SAMPLED_STORE:
        sample_rate = merged["sample_rate"]
        if not _is_number(sample_rate) or not 0 < sample_rate < 1:
            raise ConfigError(
                "scan.sample_rate",
                f"expected a number between 0 and 1, exclusive (store = 'allowed' keeps none of the "
                f"rejected points, 'all' keeps every point), got {sample_rate!r}",
            )
    sampler = _choice(merged, "sampler", SAMPLERS)
    for key in LIST_KEYS:
        if key in scan and sampler != LIST_SAMPLER:
            raise ConfigError(f"scan.{key}", f"only used with sampler = {LIST_SAMPLER!r}, but sampler = {sampler!r}")
    points = _integer(merged, "points", 1) if "points" in scan else None  # a list's default: all its rows
    if sampler == "sobol" and points > SOBOL_MAX_POINTS:
        raise ConfigError("scan.points", f"the sobol sampler draws at most 2^32 = {SOBOL_MAX_POINTS} points, got {points}")
    chunk_size = _integer(merged, "chunk_size", 1)
    return {
        "name": name,
        "seed": _integer(merged, "seed", 0),
        "points": points,
        "chunk_size": chunk_size,
        "constraints": _constraint_set(merged["constraints"]),
        "sampler": sampler,
        "store": store,
        "sample_rate": float(sample_rate) if sample_rate is not None else None,
        **_adaptive(scan, sampler, chunk_size),
    }


def _adaptive(scan: dict, sampler: str, chunk_size: int) -> dict[str, Any]:
    """round_points and defensive_share: defaults for sampler = "adaptive", refused for the others."""
    if sampler != ADAPTIVE_SAMPLER:
        for key in ADAPTIVE_DEFAULTS:
            if key in scan:
                raise ConfigError(f"scan.{key}", f"only used with sampler = {ADAPTIVE_SAMPLER!r}, but sampler = {sampler!r}")
        return {}
    merged = {**ADAPTIVE_DEFAULTS, **scan}
    round_points = _integer(merged, "round_points", 1)
    if round_points % chunk_size:
        given = "" if "round_points" in scan else " (the default)"
        raise ConfigError(
            "scan.round_points",
            f"{round_points}{given} is not a multiple of chunk_size = {chunk_size}: a round is whole chunks",
        )
    share = merged["defensive_share"]
    if not _is_number(share) or not MIN_DEFENSIVE_SHARE <= share <= 1:
        raise ConfigError(
            "scan.defensive_share",
            f"expected a number from {MIN_DEFENSIVE_SHARE} to 1 (the share of each chunk drawn from the prior), got {share!r}",
        )
    return {"round_points": round_points, "defensive_share": float(share)}


def _points_file(scan: dict, points: int | None) -> dict[str, Any]:
    """For sampler = "list": the file's absolute path and checksum, the points (at most its rows,
    by default all of them) and a ``Listed`` setting per parameter column."""
    if "points_file" not in scan:
        raise ConfigError("scan.points_file", f"missing; sampler = {LIST_SAMPLER!r} takes its points from a CSV or Parquet file")
    path = scan["points_file"]
    if not isinstance(path, str) or not path:
        raise ConfigError("scan.points_file", f"expected the path of a CSV or Parquet file, got {path!r}")
    path = str(pathlib.Path(path).expanduser().resolve())
    try:
        columns = read_points_file(path)
    except ValueError as exc:
        raise ConfigError("scan.points_file", str(exc)) from None
    sha256 = file_sha256(path)
    if scan.get("points_sha256", sha256) != sha256:
        raise ConfigError("scan.points_sha256", f"{path!r} has sha256 {sha256}, not the {scan['points_sha256']!r} given: the file changed")
    rows = len(next(iter(columns.values())))
    if points is not None and points > rows:
        raise ConfigError("scan.points", f"{path!r} lists {rows} points, fewer than the {points} asked for")
    listed = {name: Listed(float(values.min()), float(values.max())) for name, values in columns.items()}
    return {"points_file": path, "points_sha256": sha256, "points": points or rows, "listed": listed}


def _constraint_set(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(
            "scan.constraints", f"expected a shipped set {list(shipped_constraint_sets())} or a path, got {value!r}"
        )
    try:
        load_constraint_set(value)
    except ValueError as exc:
        raise ConfigError("scan.constraints", str(exc)) from None
    return value if value in shipped_constraint_sets() else str(pathlib.Path(value).resolve())


def _parse_setting(name: str, value: Any) -> Setting:
    where = f"parameters.{name}"
    expected = 'a number, { range = [low, high] } (optionally with prior = "log") or { same_as = "NAME" }'
    if _is_number(value):
        if not math.isfinite(value):
            raise ConfigError(where, f"expected a finite number, got {value!r}")
        return Fixed(float(value))
    if not isinstance(value, dict):
        raise ConfigError(where, f"expected {expected}, got {value!r}")
    _check_keys(value, ("range", "prior", "same_as"), f"{where}.")
    if "same_as" in value:
        if len(value) > 1:
            raise ConfigError(where, f"a tie takes no other keys; got {sorted(value)}")
        target = value["same_as"]
        if target not in PARAMETER_NAMES or target == name:
            raise ConfigError(f"{where}.same_as", f"expected another parameter of {list(PARAMETER_NAMES)}, got {target!r}")
        return Tied(target)
    if "range" not in value:
        raise ConfigError(f"{where}.range", f"missing; expected {expected}")
    bounds = value["range"]
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) and math.isfinite(b) for b in bounds)):
        raise ConfigError(f"{where}.range", f"expected [low, high] with two finite numbers, got {bounds!r}")
    low, high = (float(b) for b in bounds)
    if low > high:
        raise ConfigError(f"{where}.range", f"inverted range: low {low:g} > high {high:g}")
    if low == high:
        raise ConfigError(f"{where}.range", f"empty range [{low:g}, {high:g}]; write {name} = {low:g} for a fixed value")
    if not math.isfinite(high - low):
        raise ConfigError(f"{where}.range", f"[{low:g}, {high:g}] is wider than the largest float64 number: its width overflows")
    if math.nextafter(low, high) == high:
        raise ConfigError(f"{where}.range", f"no float64 number lies strictly between {low!r} and {high!r}; widen the range")
    prior = value.get("prior", PRIORS[0])
    if prior not in PRIORS:
        raise ConfigError(f"{where}.prior", f"expected one of {list(PRIORS)}, got {prior!r}")
    if prior == "log" and low <= 0:
        raise ConfigError(f"{where}.range", f"log prior needs a range above 0, got [{low:g}, {high:g}]")
    return Ranged(low, high, prior)


def _parse_parameters(table: dict, listed: dict[str, Listed]) -> dict[str, Setting]:
    """The settings of ``table``, plus ``listed``: the parameters a points file gives (sampler = "list")."""
    _check_keys(table, PARAMETER_NAMES, "parameters.")
    for name in listed:
        if name in table:
            raise ConfigError(f"parameters.{name}", "a column of scan.points_file gives it already; remove it here or there")
    for name in PARAMETER_NAMES:
        if name not in table and name not in listed:
            raise ConfigError(
                f"parameters.{name}",
                f'missing; every parameter needs a number ({name} = 1.0), a range ({name} = {{ range = [0, 1] }}) '
                f'or a tie ({name} = {{ same_as = "..." }})' + (f", or a column {name} in scan.points_file" if listed else ""),
            )
    settings = {name: listed[name] if name in listed else _parse_setting(name, table[name]) for name in PARAMETER_NAMES}
    for name, setting in settings.items():
        if isinstance(setting, Tied) and isinstance(settings[setting.same_as], Tied):
            raise ConfigError(
                f"parameters.{name}.same_as",
                f"{setting.same_as!r} is itself tied; tie to the parameter it follows",
            )
    if listed:
        for name, setting in settings.items():
            if isinstance(setting, Ranged):
                raise ConfigError(f"parameters.{name}.range", f"sampler = {LIST_SAMPLER!r} draws nothing; give a number, "
                                  f"a tie or a column {name} in scan.points_file")
    elif not any(isinstance(s, Ranged) for s in settings.values()):
        raise ConfigError("parameters", "every parameter is fixed or tied; give at least one a range")
    _check_domains(settings)
    return settings


def _resolved(settings: dict[str, Setting], name: str) -> Fixed | Ranged | Listed:
    setting = settings[name]
    return settings[setting.same_as] if isinstance(setting, Tied) else setting


def _check_domains(settings: dict[str, Setting]) -> None:
    for name, domain in parameter_domains().items():
        setting, resolved = settings[name], _resolved(settings, name)
        if isinstance(resolved, Fixed):
            ok, shown = domain.contains(resolved.value), f"{resolved.value:g}"
        elif isinstance(resolved, Listed):  # exact values: the extremes must lie inside
            ok = domain.contains(resolved.low) and domain.contains(resolved.high)
            shown = f"[{resolved.low:g}, {resolved.high:g}]"
        else:
            ok, shown = domain.covers(resolved.low, resolved.high), f"[{resolved.low:g}, {resolved.high:g}]"
        if not ok:
            if isinstance(setting, Tied):
                where, what = f"parameters.{name}.same_as", f"{setting.same_as} spans {shown}, which is"
            elif isinstance(setting, Listed):
                where, what = "scan.points_file", f"column {name} spans {shown}, which is"
            else:
                where, what = f"parameters.{name}" + ("" if isinstance(setting, Fixed) else ".range"), f"{shown} is"
            raise ConfigError(where, f"{what} outside the supported domain {domain.text(name)}")
    m_S_low, _ = _resolved(settings, "m_S_MeV").bounds()
    _, m_nu4_high = _resolved(settings, "m_nu4_MeV").bounds()
    if m_S_low >= m_nu4_high:
        raise ConfigError(
            "parameters.m_nu4_MeV",
            f"reaches at most {m_nu4_high:g} but m_S_MeV starts at {m_S_low:g}: every point would have "
            "m_S_MeV >= m_nu4_MeV, and the model needs m_S_MeV < m_nu4_MeV",
        )


def default_lake_root() -> str:
    """The lake a command uses without --lake (and a config without ``[lake] root``)."""
    return os.environ.get(LAKE_ENV) or LAKE_DEFAULTS["root"]


def enclosing_package(path: pathlib.Path) -> pathlib.Path | None:
    """The innermost folder holding ``__init__.py`` among ``path`` and its parents: a lake written
    there would land among importable source files (``./lake`` of a clone is the ``lake`` package)."""
    return next((p for p in (path, *path.parents) if (p / "__init__.py").is_file()), None)


def _lake_root(lake: dict, override: str | None) -> str:
    from lake.storage import check_object_store_root, is_object_store  # pyarrow's filesystems: only here

    _check_keys(lake, tuple(LAKE_DEFAULTS), "lake.")
    if override is not None:
        root, key = override, "--lake"
    elif "root" in lake:
        root, key = lake["root"], "lake.root"
    else:
        root, key = default_lake_root(), f"${LAKE_ENV}" if os.environ.get(LAKE_ENV) else "lake.root"
    if not isinstance(root, str) or not root:
        raise ConfigError(key, f"expected a directory path, got {root!r}")
    if is_object_store(root):
        try:
            return check_object_store_root(root)
        except ValueError as exc:
            raise ConfigError(key, str(exc)) from None
    if "://" in root:
        raise ConfigError(key, f"expected a local directory or s3://bucket/prefix, got {root!r}")
    path = pathlib.Path(root).expanduser().resolve()
    package = enclosing_package(path)
    if package is not None:
        raise ConfigError(key, f"{str(path)!r} is inside the Python package {str(package)!r}; put the lake "
                          f"outside source packages, e.g. --lake {LAKE_DEFAULTS['root']} or ${LAKE_ENV}")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(key, f"{str(existing)!r} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(key, f"cannot write to {str(existing)!r} (lake root {str(path)!r})")
    return str(path)


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:,.1f} GiB"


def point_bytes(constraints: str) -> int:
    """Bytes one evaluated point takes in a chunk's table before the store policy filters it: the
    fixed-width columns of the output schema (``dsscan.schema.arrow_schema``; a bool counted as the
    byte numpy gives it, a dictionary column as its index) plus its point_id (uint64). A chunk's
    measured peak is about 1.2 times this (528 bytes per point against 448, ``process_chunk`` under
    tracemalloc, datta2024, store = "all")."""
    import numpy as np  # the schema's stack: only for a scan's plan, not at start-up
    import pyarrow as pa

    from dsscan.schema import arrow_schema

    cset = load_constraint_set(constraints)
    schema = arrow_schema(tuple(cset.names), cset.name)
    widths = [(f.type.index_type if pa.types.is_dictionary(f.type) else f.type).bit_width for f in schema]
    return sum(-(-bits // 8) for bits in widths) + np.dtype(np.uint64).itemsize


def chunk_record_bytes() -> int:
    """What the driver keeps per chunk of the plan: a ``ChunkRecord`` (object, fields) and its JSON
    text when the manifest is saved."""
    record = ChunkRecord(index=2**40, file=chunk_file_name(2**40), points=2**40, outside_domain=2**40, rows=2**40,
                         allowed=2**40, sampled=2**40, sha256="0" * 64, seconds=1.0)
    fields = vars(record)
    in_memory = sys.getsizeof(record) + sys.getsizeof(fields) + sum(sys.getsizeof(v) for v in fields.values())
    return in_memory + len(json.dumps(fields))


def _check_plan_fits_memory(spec: ScanSpec) -> None:
    """A chunk must fit in this machine's memory, and so must the driver's record of every chunk:
    a plan that cannot is refused here instead of dying with MemoryError after the lake was touched."""
    memory = physical_memory_bytes()
    per_point = point_bytes(spec.constraints)
    if spec.chunk_size * per_point > memory:
        raise ConfigError(
            "scan.chunk_size",
            f"a chunk of {spec.chunk_size:,} points needs at least {_gib(spec.chunk_size * per_point)} of memory "
            f"({per_point} bytes per point), more than this machine's {_gib(memory)}; lower it "
            f"(default {SCAN_DEFAULTS['chunk_size']:,})",
        )
    per_chunk = chunk_record_bytes()
    if spec.n_chunks * per_chunk > memory:
        raise ConfigError(
            "scan.points",
            f"{spec.points:,} points in chunks of {spec.chunk_size:,} make {spec.n_chunks:,} chunks, and the driver "
            f"keeps about {per_chunk} bytes per chunk, {_gib(spec.n_chunks * per_chunk)} in all, more than this "
            "machine's " + _gib(memory) + "; lower scan.points or raise scan.chunk_size",
        )


def parse_config(doc: dict[str, Any], lake_root: str | None = None) -> ScanSpec:
    """Validate a parsed TOML document; ``lake_root`` overrides ``[lake] root``."""
    _check_keys(doc, TOP_LEVEL_KEYS, "")
    scan_table = _table(doc, "scan", required=True)
    scan = _parse_scan(scan_table)
    listed: dict[str, Listed] = {}
    if scan["sampler"] == LIST_SAMPLER:
        found = _points_file(scan_table, scan["points"])
        listed = found.pop("listed")
        scan |= found
    parameters = _parse_parameters(_table(doc, "parameters", required=True), listed)
    spec = ScanSpec(**scan, parameters=parameters, lake_root="")
    _check_plan_fits_memory(spec)
    root = _lake_root(_table(doc, "lake", required=False), lake_root)
    return dataclasses.replace(spec, lake_root=root)


def load_config(path: str | os.PathLike, lake_root: str | None = None) -> ScanSpec:
    """Read and validate a scan config; errors start with the file name and the key path."""
    path = pathlib.Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid TOML: nested too deeply for this parser (Python's recursion limit)") from None
    try:
        return parse_config(doc, lake_root)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.key}", str(exc).removeprefix(f"{exc.key}: ")) from None


# ---------------------------------------------------------------------------------------------
# Writing a spec back as TOML (``dsscan validate`` prints the resolved config this way).


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"


def dumps_toml(doc: dict[str, dict[str, Any]]) -> str:
    """A document of tables of scalars, lists and inline tables (the shape of a scan config) as TOML."""
    lines = []
    for section, table in doc.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        lines.append("")
    return "\n".join(lines)


def to_toml(spec: ScanSpec) -> str:
    """The resolved config as TOML that ``load_config`` reads back to the same spec."""
    return dumps_toml(spec.to_dict())
