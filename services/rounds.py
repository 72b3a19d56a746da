"""The rounds of an adaptive scan (``dsscan.adaptive``): before each round the driver fits the
round's proposal on the stored rows of the earlier rounds and records it in the manifest; then the
engine runs the round's chunks with it. A resumed scan reuses every recorded proposal, so a
chunk's content never depends on when or where it ran.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dsscan import adaptive
from dsscan.config import ScanSpec
from dsscan.constraints import load_constraint_set
from dsscan.plan import POINT_ID, WEIGHT
from lake.layout import scan_dir
from lake.manifest import ChunkRecord, Manifest
from lake.storage import arrow_location

FIT_STREAM = 2  # the fit's random stream: SeedSequence([seed, round, 2]), apart from every chunk's
THIN_STREAM = 3  # the thinning of a round's allowed rows: SeedSequence([seed, round, 3])


def round_chunks(spec: ScanSpec, round_index: int) -> range:
    per_round = spec.round_points // spec.chunk_size
    return range(round_index * per_round, min(spec.n_chunks, (round_index + 1) * per_round))


class RoundRows(NamedTuple):
    """Stored rows of one finished round as a fit uses them."""

    unit: np.ndarray  # [rows, free parameters]: unit-cube coordinates
    scale: np.ndarray  # what a row stands for beyond itself: 1 / sample_rate for a sampled rejected row, 1 / p for a row kept with probability p
    failed: np.ndarray  # failed constraints per row


class EarlierRows:
    """The stored rows of the finished rounds as the fits use them, kept between fits: a round's
    allowed rows are read once (thinned to about ``adaptive.FIT_ROWS_PER_ROUND``, the heavy ones
    kept: ``adaptive.thin``), and, while the allowed rows are too few for a fit, all its stored
    rows once, instead of every earlier round's files before every later round's fit."""

    def __init__(self, spec: ScanSpec):
        self.spec = spec
        self.verdicts = [f"pass_{name}" for name in load_constraint_set(spec.constraints).names]
        self._read: dict[tuple[int, bool], RoundRows] = {}
        self.tally = adaptive.BinTally(figure_planes(spec), len(spec.free_parameters))
        self._tallied = 0  # rounds in the tally: 0 ... _tallied - 1
        self._untallied: dict[int, np.ndarray] = {}  # allowed rows (unit, whole) of rounds read but not yet tallied

    def _round_rows(self, manifest: Manifest, round_index: int, only_allowed: bool) -> RoundRows:
        key = (round_index, only_allowed)
        if key not in self._read:
            self._read[key] = self._read_round(manifest, round_index, only_allowed)
        return self._read[key]

    def _read_round(self, manifest: Manifest, round_index: int, only_allowed: bool) -> RoundRows:
        spec, free = self.spec, self.spec.free_parameters
        records = [r for r in manifest.chunks.values() if spec.round_of(r.index) == round_index]
        tables = []
        for file, _ in sorted({(r.file, r.sha256) for r in records}):
            location, fs = arrow_location(scan_dir(spec.lake_root, spec.name) / file)
            tables.append(pq.read_table(location, filesystem=fs, columns=[POINT_ID, *free, WEIGHT, "sampled", *self.verdicts],
                                        filters=[("allowed", "==", True)] if only_allowed else None))
        if not tables:
            return RoundRows(np.empty((0, len(free))), np.empty(0), np.empty(0, dtype=np.int64))
        table = pa.concat_tables(tables)
        table = table.take(pc.sort_indices(table.column(POINT_ID)))  # the same rows in the same order on every engine
        unit = unit_rows(table, spec)
        failed = np.zeros(len(table), dtype=np.int64)
        for verdict in self.verdicts:
            failed += pc.invert(table.column(verdict)).to_numpy(zero_copy_only=False)
        if only_allowed:  # no sampled rows: a kept row stands for 1 / p rows
            if round_index >= self._tallied:
                self._untallied[round_index] = unit
            stored = table.column(WEIGHT).to_numpy()
            rng = np.random.default_rng([spec.seed, round_index, THIN_STREAM])
            kept, weight = adaptive.thin(stored, adaptive.FIT_ROWS_PER_ROUND, rng)
            return RoundRows(unit[kept], weight / stored[kept], failed[kept])
        scale = np.ones(len(table))
        if spec.sample_rate is not None:  # a stored rejected row stands for 1/sample_rate of them
            scale[table.column("sampled").to_numpy(zero_copy_only=False)] /= spec.sample_rate
        return RoundRows(unit, scale, failed)

    def found(self, manifest: Manifest, rounds: int) -> adaptive.BinTally:
        """The tally of the allowed rows of rounds 0 ... ``rounds`` - 1 (each round's rows read once:
        those the window has read already are not read again)."""
        for round_index in range(self._tallied, rounds):
            if round_index not in self._untallied:
                self._read_round(manifest, round_index, only_allowed=True)
            self.tally.add(self._untallied.pop(round_index, np.empty((0, len(self.spec.free_parameters)))))  # none: no file
            self._tallied = round_index + 1
        return self.tally

    def window(self, manifest: Manifest, rounds: range, only_allowed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows of ``rounds`` (unit coordinates, weights, failed constraints), weighted by the
        balance heuristic over those rounds' proposals (``adaptive.balance_weights``)."""
        self._read = {key: rows for key, rows in self._read.items() if key[0] >= rounds.start}  # never needed again
        parts = [self._round_rows(manifest, r, only_allowed) for r in rounds]
        unit = np.concatenate([p.unit for p in parts])
        proposals = [manifest.rounds[r]["proposal"] for r in rounds]
        weight = np.concatenate([p.scale for p in parts]) * adaptive.balance_weights(unit, proposals)
        return unit, weight, np.concatenate([p.failed for p in parts])


def unit_rows(table: pa.Table, spec: ScanSpec) -> np.ndarray:
    """The rows of ``table`` as points of the unit cube: its free-parameter columns mapped by their
    priors (``adaptive.from_range``), a column per free parameter."""
    return np.column_stack([adaptive.from_range(table.column(n).to_numpy(), spec.parameters[n]) for n in spec.free_parameters])


def round_record(spec: ScanSpec, manifest: Manifest, round_index: int, rows: EarlierRows) -> dict:
    """The manifest's record of round ``round_index``: its proposal, fitted on the last
    ``adaptive.FIT_ROUNDS`` rounds (none, i.e. the prior, for round 0 or when they stored no row):
    on their allowed rows when these are enough, with kernels on the figure planes' rare bins of all
    earlier rounds' allowed rows (``adaptive.BinTally``), else on all their stored rows."""
    if round_index == 0:
        return {"round": 0, "proposal": None}
    window = range(max(0, round_index - adaptive.FIT_ROUNDS), round_index)
    allowed = sum(r.allowed for r in manifest.chunks.values() if spec.round_of(r.index) in window)
    unit, weight, failed = rows.window(manifest, window, only_allowed=allowed >= adaptive.MIN_FIT_POINTS)
    unit, weight, target = adaptive.fit_points(unit, weight, failed, rows.tally.planes)
    if len(unit) == 0:
        return {"round": round_index, "proposal": None}
    rng = np.random.default_rng([spec.seed, round_index, FIT_STREAM])
    previous = manifest.rounds[round_index - 1]["proposal"]
    tally = rows.found(manifest, round_index) if target == adaptive.ALLOWED_TARGET else None
    kernels, probes = (tally.kernels(), tally.probes()) if tally else (None, None)
    return {"round": round_index, "proposal": adaptive.fit(unit, weight, spec.defensive_share, rng, target, previous, kernels, probes)}


def figure_planes(spec: ScanSpec) -> tuple[tuple[int, int], ...]:
    """The planes of the paper figures' panels (``figures.toml``) that two free parameters span, as
    pairs of indices into ``spec.free_parameters``: the fits flatten the allowed points on them."""
    from lake.figures import figure_book  # pandas and duckdb: only for an adaptive scan's fits, not every scan's start

    free = spec.free_parameters
    panels = [p for figure in figure_book().figures.values() for p in figure.panels]
    return tuple(dict.fromkeys((free.index(p.x.column), free.index(p.y.column))
                               for p in panels if p.x.column in free and p.y.column in free))


def run_rounds(spec: ScanSpec, engine, manifest: Manifest, record: Callable[[ChunkRecord], None]) -> None:
    """Run every unrecorded chunk of an adaptive scan, round by round, with ``engine`` (in one
    ``engine.session()`` where the engine has one: the Ray cluster stays up between rounds);
    ``record`` records a finished chunk in ``manifest``."""
    with getattr(engine, "session", contextlib.nullcontext)():
        _run_rounds(spec, engine, manifest, record)


def _run_rounds(spec: ScanSpec, engine, manifest: Manifest, record: Callable[[ChunkRecord], None]) -> None:
    rows = EarlierRows(spec)
    for round_index in range(spec.n_rounds):
        todo = [i for i in round_chunks(spec, round_index) if i not in manifest.chunks]
        if not todo:
            continue
        if len(manifest.rounds) <= round_index:  # every earlier round is complete: fit this one
            manifest.rounds.append(round_record(spec, manifest, round_index, rows))
            manifest.save(spec.lake_root)
        engine.run(dataclasses.replace(spec, proposal=manifest.rounds[round_index]), todo, record)
