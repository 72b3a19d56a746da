"""dsscan: distributed scans of the light-scalar / sterile-neutrino dark sector.

Public API: ``dsscan.evaluate(points, constraints="datta2024") -> pyarrow.Table``.
"""


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed package's metadata on first use (importlib.metadata
    costs a command line's start-up a tenth of a second)."""
    if name != "__version__":
        raise AttributeError(f"module 'dsscan' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("dsscan")
    except PackageNotFoundError:  # running from a source tree that is not installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found


# Bound after the submodule import so that ``dsscan.evaluate`` is the function, not the module.
from dsscan.evaluate import evaluate  # noqa: E402

__all__ = ["evaluate", "__version__"]
