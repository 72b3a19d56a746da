"""dsscan: distributed scans of the light-scalar / sterile-neutrino dark sector.

Public API: ``dsscan.evaluate(points, constraints="datta2024") -> pyarrow.Table``.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsscan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# Bound after the submodule import so that ``dsscan.evaluate`` is the function, not the module.
from dsscan.evaluate import evaluate  # noqa: E402

__all__ = ["evaluate", "__version__"]
