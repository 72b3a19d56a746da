"""dsscan: distributed scans of the light-scalar / sterile-neutrino dark sector.

Public API: ``dsscan.evaluate(points, constraints="datta2024") -> pyarrow.Table``.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsscan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def evaluate(points, constraints: str = "datta2024"):
    """See :func:`dsscan.evaluate.evaluate`."""
    from dsscan.evaluate import evaluate as _evaluate

    return _evaluate(points, constraints)


__all__ = ["evaluate", "__version__"]
