"""dsscan: distributed scans of the light-scalar / sterile-neutrino dark sector.

The Python API (docs/api.md); each name is imported on first use, so ``import dsscan`` stays light:

    run_scan(config, *, engine=None, workers=None, address=None, lake=None, resume=False) -> dict
        run a scan (a TOML path or a dict shaped like one) into the lake; returns its summary
    open_lake(root=None) -> Lake
        the lake, read-only: .sql(query), .scans(), .status(scan), .points(scan, columns, where)
    point(*, constraints="datta2024", **parameters) -> Point
        one parameter point's observables and verdicts, as ``dsscan point`` prints them
    evaluate(points, constraints="datta2024") -> pyarrow.Table
        many points at once, every observable and verdict, one row per point
    figures.figure2(lake=None, scans=None, mark_benchmarks=False), figures.figure3(...) -> figures.Figure
        paper 001's Figures 2 and 3 as the explorer app draws them; .save("fig.png" | ".pdf" | ".svg")

Errors a user can fix are ``ValueError`` (or ``FileNotFoundError``) with the one-line message
the command line prints after ``dsscan: error:``.
"""
from importlib import import_module
from typing import Any

# Bound after the submodule import so that ``dsscan.evaluate`` is the function, not the module.
from dsscan.evaluate import evaluate  # noqa: E402

# Public name -> the module that defines it (PEP 562: loaded by ``__getattr__`` on first use).
_LAZY = {"run_scan": "dsscan.api", "open_lake": "dsscan.api", "point": "dsscan.api", "Lake": "dsscan.api", "Point": "dsscan.api"}
_SUBMODULES = ("figures",)

__all__ = ["run_scan", "open_lake", "point", "evaluate", "figures", "Lake", "Point", "__version__"]


def _version() -> str:
    """The installed package's version (importlib.metadata costs a command line's start-up a tenth
    of a second, so it is read on first use)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dsscan")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = _version()
    elif name in _SUBMODULES:
        value = import_module(f"dsscan.{name}")
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'dsscan' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
