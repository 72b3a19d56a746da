"""``dsscan.evaluate``: parameter points in, every observable and verdict out as a pyarrow Table.

``import dsscan`` binds this module's ``evaluate``, so every import it needs (numpy, pyarrow, the
numba kernel) happens on the first call: the command line starts without them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from dsscan.constraints import ConstraintSet


def _parameter_array(name: str, values: Any) -> np.ndarray:
    """One parameter's values as a contiguous 1-D float64 array (a number counts as one point)."""
    import numpy as np

    try:
        array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameter {name}: expected numbers, got {type(values).__name__} ({exc})") from None
    if array.ndim != 1:
        raise ValueError(f"parameter {name}: expected a number or a 1-D array (one value per point), got shape {array.shape}")
    return np.ascontiguousarray(array)


def as_parameter_arrays(points: Any) -> dict[str, np.ndarray]:
    """Coerce a mapping, pyarrow Table or pandas DataFrame to contiguous float64 arrays of the 9 parameters."""
    import pyarrow as pa

    from dsscan.parameters import PARAMETER_NAMES

    if isinstance(points, pa.Table):
        names = points.column_names
        get = lambda n: points.column(n).to_numpy()  # noqa: E731
    elif hasattr(points, "columns") and hasattr(points, "__getitem__"):  # pandas DataFrame
        names = list(points.columns)
        get = lambda n: points[n].to_numpy()  # noqa: E731
    elif isinstance(points, Mapping):
        names = list(points)
        get = lambda n: points[n]  # noqa: E731
    else:
        raise TypeError(f"points must be a mapping, pyarrow Table or pandas DataFrame, not {type(points).__name__}")
    missing = [n for n in PARAMETER_NAMES if n not in names]
    if missing:
        raise ValueError(f"points lack the parameters {missing}; expected all of {list(PARAMETER_NAMES)}")
    arrays = {n: _parameter_array(n, get(n)) for n in PARAMETER_NAMES}
    lengths = {n: len(a) for n, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"parameter arrays differ in length: {lengths}")
    return arrays


def evaluate(points: Any, constraints: str = "datta2024") -> pa.Table:
    """Every observable of physics.md section 8 and the verdicts of a constraint set, one row per point.

    ``points`` maps the nine parameter names (user units: kappa in TeV^-1, masses in MeV) to
    equal-length arrays, or is a pyarrow Table / pandas DataFrame with those columns.
    ``constraints`` is a shipped set (``datta2024``, ``datta2020``) or the path of a user's copy.
    Raises ValueError naming the parameter and value for points outside the supported domain.
    """
    from dsscan.constraints import load_constraint_set
    from dsscan.parameters import check_domain

    cset = load_constraint_set(constraints)
    params = as_parameter_arrays(points)
    check_domain(params)
    return evaluate_in_domain(params, cset)


def evaluate_in_domain(params: dict[str, np.ndarray], cset: ConstraintSet) -> pa.Table:
    """``evaluate`` of float64 parameter arrays already known to lie inside the supported domain
    (a scan's chunk after ``inside_domain``): no second domain check; the columns are zero-copy
    views of the kernel's buffers."""
    from dsscan.parameters import PARAMETER_NAMES
    from dsscan.physics.kernel import run_batch

    batch = run_batch(params, cset)
    return _table([params[name] for name in PARAMETER_NAMES], batch.observables, batch.verdicts, cset)


def evaluate_rows(params: dict[str, np.ndarray], cset: ConstraintSet,
                  keep: np.ndarray | None = None) -> tuple[np.ndarray | None, EvaluatedRows, int]:
    """Evaluate in-domain points and keep every one (``keep`` None) or those that pass every
    constraint or are flagged in ``keep``, as numpy blocks: (the kept points' indices, or None for
    all; their rows; how many of all the points passed). Kept points are copied out of the
    kernel's cache-resident blocks (``kernel.run_kept``), so a scan that keeps few points never
    writes the others' observables to memory."""
    import numpy as np

    from dsscan.parameters import PARAMETER_NAMES
    from dsscan.physics.kernel import run_batch, run_kept

    if keep is None:
        observables, verdicts = run_batch(params, cset).take()
        rows = EvaluatedRows([params[name] for name in PARAMETER_NAMES], observables, verdicts)
        return None, rows, int(np.count_nonzero(verdicts[-1]))
    kept = run_kept(params, cset, keep)
    kept_params = [params[name][kept.rows] for name in PARAMETER_NAMES]
    return kept.rows, EvaluatedRows(kept_params, kept.observables, kept.verdicts), kept.allowed


class EvaluatedRows(NamedTuple):
    """Evaluated points as numpy arrays: the nine parameters (``PARAMETER_NAMES`` order), and as
    blocks with a column per row, the observables (``schema.OBSERVABLES``) and the verdicts (the
    set's constraints, then "allowed"). The parameters stay the arrays they were passed as (with
    ``store = "all"`` the chunk's own: no copy into a block, 16 ms per 10^6 points)."""

    params: list[np.ndarray]  # 9 arrays of m
    observables: np.ndarray  # [N_OBS, m]
    verdicts: np.ndarray  # [n_constraints + 1, m], bool

    @staticmethod
    def concatenate(parts: list[EvaluatedRows]) -> EvaluatedRows:
        import numpy as np

        if len(parts) == 1:
            return parts[0]
        return EvaluatedRows([np.concatenate(column) for column in zip(*(part.params for part in parts))],
                             *(np.concatenate(blocks, axis=1) for blocks in zip(*(part[1:] for part in parts))))

    def table(self, cset: ConstraintSet) -> pa.Table:
        """The rows as the table ``evaluate`` returns."""
        import pyarrow as pa

        return _table(self.params, [pa.array(row) for row in self.observables],
                      [pa.array(row) for row in self.verdicts], cset)


def _table(params: list[np.ndarray], observables: list[pa.Array], verdicts: list[pa.Array], cset: ConstraintSet) -> pa.Table:
    """The output schema's table: parameters (PARAMETER_NAMES order), observables, verdicts, scenario."""
    import numpy as np
    import pyarrow as pa

    from dsscan.parameters import PARAMETER_NAMES
    from dsscan.schema import SCENARIO_NAMES, arrow_schema

    scenario_index = pa.array((params[PARAMETER_NAMES.index("kappa_TeV")] != 0.0).view(np.int8))
    arrays = [pa.array(p) for p in params] + observables + verdicts
    arrays.append(pa.DictionaryArray.from_arrays(scenario_index, pa.array(SCENARIO_NAMES)))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(cset.names, cset.name))


__all__ = ["evaluate", "evaluate_in_domain", "evaluate_rows", "EvaluatedRows", "as_parameter_arrays"]
