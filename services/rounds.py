"""The rounds of an adaptive scan (``dsscan.adaptive``): before each round the driver fits the
round's proposal on the stored rows of the earlier rounds and records it in the manifest; then the
engine runs the round's chunks with it. A resumed scan reuses every recorded proposal, so a
chunk's content never depends on when or where it ran.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dsscan import adaptive
from dsscan.config import ScanSpec
from dsscan.constraints import load_constraint_set
from lake.layout import scan_dir
from lake.manifest import ChunkRecord, Manifest
from lake.storage import arrow_location

FIT_STREAM = 2  # the fit's random stream: SeedSequence([seed, round, 2]), apart from every chunk's


def round_chunks(spec: ScanSpec, round_index: int) -> range:
    per_round = spec.round_points // spec.chunk_size
    return range(round_index * per_round, min(spec.n_chunks, (round_index + 1) * per_round))


class EarlierRows:
    """The stored rows of the finished rounds as the fits use them: unit-cube coordinates, fit weights
    and failed-constraint counts, kept between fits, so a chunk file is read once for its allowed
    rows (and, while the earlier rounds hold too few allowed points, once for all its rows) instead
    of before every later round's fit."""

    def __init__(self, spec: ScanSpec):
        self.spec = spec
        self.verdicts = [f"pass_{name}" for name in load_constraint_set(spec.constraints).names]
        self._read: dict[tuple[str, str, bool], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def before(self, manifest: Manifest, round_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows of the rounds before ``round_index`` (only the allowed rows when they are enough
        for a fit)."""
        earlier = [r for r in manifest.chunks.values() if self.spec.round_of(r.index) < round_index]
        only_allowed = sum(r.allowed for r in earlier) >= adaptive.MIN_FIT_POINTS
        if only_allowed:  # all rows are never needed again
            self._read = {key: rows for key, rows in self._read.items() if key[2]}
        files = sorted({(r.file, r.sha256) for r in earlier})
        parts = [self._file_rows(file, sha256, only_allowed) for file, sha256 in files]
        if not parts:
            return np.empty((0, len(self.spec.free_parameters))), np.empty(0), np.empty(0, dtype=np.int64)
        return tuple(np.concatenate(blocks) for blocks in zip(*parts))

    def _file_rows(self, file: str, sha256: str, only_allowed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (file, sha256, only_allowed)
        if key not in self._read:
            self._read[key] = self._read_file(file, only_allowed)
        return self._read[key]

    def _read_file(self, file: str, only_allowed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        spec, free = self.spec, self.spec.free_parameters
        location, fs = arrow_location(scan_dir(spec.lake_root, spec.name) / file)
        table = pq.read_table(location, filesystem=fs, columns=[*free, "weight", "sampled", *self.verdicts],
                              filters=[("allowed", "==", True)] if only_allowed else None)
        unit = np.column_stack([adaptive.from_range(table.column(n).to_numpy(), spec.parameters[n]) for n in free])
        weight = table.column("weight").to_numpy()
        if spec.sample_rate is not None:  # a stored rejected row stands for 1/sample_rate of them
            weight = np.where(table.column("sampled").to_numpy(zero_copy_only=False), weight / spec.sample_rate, weight)
        failed = np.zeros(len(weight), dtype=np.int64)
        for verdict in self.verdicts:
            failed += pc.invert(table.column(verdict)).to_numpy(zero_copy_only=False)
        return unit, weight, failed


def round_record(spec: ScanSpec, manifest: Manifest, round_index: int, rows: EarlierRows) -> dict:
    """The manifest's record of round ``round_index``: its proposal, fitted on the earlier rounds
    (none, i.e. the prior, for round 0 or when they stored no row)."""
    if round_index == 0:
        return {"round": 0, "proposal": None}
    unit, weight, target = adaptive.fit_points(*rows.before(manifest, round_index))
    if len(unit) == 0:
        return {"round": round_index, "proposal": None}
    rng = np.random.default_rng([spec.seed, round_index, FIT_STREAM])
    previous = manifest.rounds[round_index - 1]["proposal"] if len(manifest.rounds) >= round_index else None
    return {"round": round_index, "proposal": adaptive.fit(unit, weight, spec.defensive_share, rng, target, previous)}


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
