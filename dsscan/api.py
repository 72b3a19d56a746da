"""The Python API for notebooks and scripts: run a scan, query the lake, look at one point.

Every function here calls what the command line calls (``services.driver.run_scan`` for a scan,
``lake.catalog`` for SQL, ``dsscan status``'s summary, ``dsscan point``'s report), so a notebook
and the CLI give the same numbers and the same one-line errors (a ``ValueError`` whose message is
what ``dsscan`` prints after ``dsscan: error:``). The heavy packages (DuckDB, numba, Ray, Dask) are
imported inside the functions, on first use.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    import duckdb

    from dsscan.constraints import ConstraintSet
    from lake.manifest import ChunkRecord

__all__ = ["run_scan", "open_lake", "point", "Lake", "Point"]


def run_scan(
    config: str | os.PathLike | Mapping[str, Any],
    *,
    engine: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    lake: str | os.PathLike | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run a scan into the lake and return its summary, as ``dsscan scan CONFIG`` does.

    ``config`` is the path of a TOML config or a dict shaped like one
    (``{"scan": {...}, "parameters": {...}, "lake": {...}}``, see docs/configuration.md).
    ``engine`` is ``"local"`` (this process), ``"ray"``, ``"dask"`` or ``"auto"`` (the default, as the
    CLI's: small scans in this process, large ones on Ray);
    ``workers`` and ``address`` are ``--workers`` and ``--address``; ``lake`` overrides
    ``[lake] root``; ``resume=True`` continues a stopped scan of the same config (``--resume``).
    A progress bar (``tqdm.auto``: a widget in Jupyter, text elsewhere; ``TQDM_DISABLE=1`` hides it)
    counts chunks.

    Returns what ``dsscan status NAME --json`` prints (status, chunks, points, allowed, rows, config,
    provenance, worker time) plus ``"lake"``, the lake root, for ``open_lake``.
    Raises ``ValueError``/``FileNotFoundError`` with the CLI's one-line message for a config or
    lake mistake (before anything is written), ``services.engine.ChunkFailedError`` when a chunk
    fails three times; on that or on ``KeyboardInterrupt`` the recorded chunks are kept, the
    exception's note says how many, and ``resume=True`` continues.
    """
    from tqdm.auto import tqdm

    from dsscan.commands.status import summary
    from dsscan.config import load_config, parse_config
    from services import DEFAULT_ENGINE, choose_engine, make_engine
    from services.driver import ensure_new_scan, run_scan as drive, saved_chunks, stopped_scan
    from services.engine import ChunkFailedError

    lake_root = None if lake is None else os.fspath(lake)
    if isinstance(config, Mapping):
        spec = parse_config(dict(config), lake_root)
    else:
        spec = load_config(config, lake_root)
    engine_name, _ = choose_engine(engine or DEFAULT_ENGINE, spec.points, spec.store, workers, address)
    chosen = make_engine(engine_name, workers, address)
    if resume:
        recorded = stopped_scan(spec).chunks
    else:
        ensure_new_scan(spec)  # before the engine starts a cluster, as the CLI does
        recorded = {}
    bar = tqdm(total=spec.n_chunks, initial=len(recorded), unit="chunk", desc=f"scan {spec.name!r} ({chosen.name})")
    allowed = sum(c.allowed for c in recorded.values())

    def on_chunk(chunk: ChunkRecord) -> None:
        nonlocal allowed
        allowed += chunk.allowed
        bar.set_postfix_str(f"{allowed:,} allowed", refresh=False)
        bar.update(1)

    try:
        manifest = drive(spec, chosen, on_chunk, resume=resume)
    except (KeyboardInterrupt, ChunkFailedError) as exc:
        exc.add_note(f"{saved_chunks(spec)} of {spec.n_chunks} chunks of scan {spec.name!r} are recorded; run_scan(..., resume=True) continues it")
        raise
    finally:
        bar.close()
    return summary(manifest, spec.lake_root) | {"lake": spec.lake_root}


def open_lake(root: str | os.PathLike | None = None) -> Lake:
    """The lake at ``root`` (a directory or ``s3://bucket/prefix``; default: the CLI's default
    lake, ``$DSSCAN_LAKE`` else ``./dsscan-lake``), read-only: see ``Lake``. Raises ``ValueError``
    when it holds no scan."""
    from dsscan.config import default_lake_root

    return Lake(default_lake_root() if root is None else os.fspath(root))


class Lake:
    """A read-only view of a lake: DuckDB SQL over the tables ``points`` (every stored point, the
    column ``scan`` naming its scan), ``scans`` (one row per scan) and ``chunks`` (one row per
    recorded chunk file), the same locked catalog as ``dsscan sql``.

    The tables hold the chunks recorded when the lake was opened; open it again to see chunks a
    running scan has recorded since. ``status`` always reads the scan's manifest afresh.
    """

    def __init__(self, root: str):
        from lake.catalog import open_catalog

        self.root = root
        self.connection: duckdb.DuckDBPyConnection = open_catalog(root)

    def __repr__(self) -> str:
        return f"<dsscan lake {self.root!r}: scans {', '.join(self.scan_names())}>"

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """One read-only statement (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN) as a DuckDB
        relation: nothing is computed until asked, then ``.df()`` (pandas), ``.pl()`` (polars),
        ``.fetchall()`` (tuples), or ``.arrow()`` (a pyarrow ``RecordBatchReader``: a big result
        streams batch by batch; ``.arrow().read_all()`` for one table). Each such call runs the query.
        Raises ``ValueError`` for a statement that would change anything or does not parse or bind."""
        import duckdb

        from lake.catalog import read_only_query

        try:
            return read_only_query(self.connection, query)
        except duckdb.Error as exc:
            raise ValueError(str(exc).splitlines()[0]) from None

    def scans(self) -> duckdb.DuckDBPyRelation:
        """The ``scans`` table: one row per scan (status, planned and stored counts, seed, sampler,
        constraint set, code version, config as JSON), ordered by name."""
        return self.sql("SELECT * FROM scans ORDER BY scan")

    def scan_names(self) -> list[str]:
        """The names of the lake's scans, sorted."""
        return [name for (name,) in self.sql("SELECT scan FROM scans ORDER BY scan").fetchall()]

    def status(self, scan: str) -> dict[str, Any]:
        """Where scan ``scan`` stands, from its manifest: what ``dsscan status SCAN --json`` prints."""
        from dsscan.commands.status import load_scan, summary

        return summary(load_scan(self.root, scan), self.root)

    def points(
        self, scan: str, columns: Iterable[str] | None = None, where: str | None = None
    ) -> duckdb.DuckDBPyRelation:
        """The stored points of ``scan`` as a relation: ``columns`` (default all) of the rows for
        which the SQL condition ``where`` holds, e.g.
        ``lake.points("demo", ["eta_t", "eta_c"], where="allowed and kappa_TeV = 0").df()``."""
        from lake.query import identifier, literal

        names = self.scan_names()
        if scan not in names:
            raise ValueError(f"no scan named {scan!r} under lake root {self.root!r}; it holds {', '.join(names)}")
        selected = "*" if columns is None else ", ".join(identifier(c) for c in columns)
        condition = f"scan = {literal(scan)}" + ("" if where is None else f" AND ({where})")
        return self.sql(f"SELECT {selected} FROM points WHERE {condition}")


@dataclass(frozen=True, eq=False)
class Point:
    """One evaluated parameter point: ``values`` maps every parameter, observable (``dsscan.schema``
    names and units), ``pass_<constraint>``, ``allowed`` and ``scenario`` to its value, as one row of
    a scan (NaN: not computed). ``str(point)``, and a notebook cell, show ``dsscan point``'s report."""

    values: dict[str, Any]
    constraint_set: ConstraintSet

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def allowed(self) -> bool:
        return bool(self.values["allowed"])

    @property
    def verdict(self) -> str:
        """One line: allowed by the set, or which constraints fail and which were not computed."""
        from dsscan.commands.point import verdict

        return verdict(self.constraint_set, self.values)

    def to_dict(self) -> dict[str, Any]:
        """What ``dsscan point --json`` prints: the values (NaN as None), ``units`` and ``versions``."""
        from dsscan.commands.point import json_row, versions
        from dsscan.parameters import PARAMETERS
        from dsscan.schema import OBSERVABLES

        units = {p.name: p.unit for p in PARAMETERS} | {name: unit for name, (unit, _) in OBSERVABLES.items()}
        return json_row(self.values) | {"units": units, "versions": versions(self.constraint_set)}

    def __str__(self) -> str:
        from dsscan.commands.point import format_point

        return format_point(self.values, self.constraint_set)

    def __repr__(self) -> str:
        return f"<dsscan point: {self.verdict}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the report, as the command prints it."""
        printer.text(str(self))


def point(*, constraints: str = "datta2024", **parameters: float) -> Point:
    """Evaluate one parameter point, as ``dsscan point NAME=VALUE ...`` does.

    ``parameters``: all nine, in user units (``kappa_TeV``, ``eta_d``, ``eta_u``, ``eta_c``,
    ``eta_t``, ``g_D``, ``U_mu4``, ``m_S_MeV``, ``m_nu4_MeV``); ``constraints``: a shipped set or the
    path of a .toml copy. Raises ``ValueError`` naming an unknown, missing or non-numeric parameter
    or a value outside the supported domain.
    """
    from dsscan.commands.point import parse_assignments
    from dsscan.constraints import load_constraint_set
    from dsscan.evaluate import evaluate

    values = parse_assignments([f"{name}={value}" for name, value in parameters.items()])
    cset = load_constraint_set(constraints)
    (row,) = evaluate({name: [x] for name, x in values.items()}, constraints=constraints).to_pylist()
    return Point(row, cset)
