"""The deterministic plan of a scan: chunk i holds the points i*chunk_size ... and is generated
from (seed, i) alone (or is rows i*chunk_size ... of the points file, sampler = "list"), so the
result does not depend on which worker runs which chunk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsscan import adaptive
from dsscan.config import ADAPTIVE_SAMPLER, LIST_SAMPLER, Fixed, Ranged, ScanSpec, Tied
from dsscan.points_file import listed_rows
from dsscan.samplers import to_range, unit_cube

POINT_ID = "point_id"
WEIGHT = "weight"  # importance weight: prior density / proposal density (1 but for sampler = "adaptive")


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # point_id of the chunk's first point
    size: int

    @property
    def point_ids(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.size, dtype=np.uint64)


@dataclass(frozen=True)
class ChunkRandomness:
    """The chunk's two independent random streams, both derived from (seed, chunk index)."""

    points: np.random.Generator  # draws the parameter values
    storage: np.random.Generator  # draws the stored sample of rejected points


def chunk(spec: ScanSpec, index: int) -> Chunk:
    if not 0 <= index < spec.n_chunks:
        raise ValueError(f"chunk index {index} outside the plan of {spec.n_chunks} chunks")
    start = index * spec.chunk_size
    return Chunk(index, start, min(spec.chunk_size, spec.points - start))


def chunks(spec: ScanSpec) -> list[Chunk]:
    return [chunk(spec, i) for i in range(spec.n_chunks)]


def chunk_randomness(seed: int, index: int) -> ChunkRandomness:
    points, storage = np.random.SeedSequence([seed, index]).spawn(2)
    return ChunkRandomness(np.random.default_rng(points), np.random.default_rng(storage))


def round_proposal(spec: ScanSpec, index: int) -> dict | None:
    """The proposal chunk ``index`` of an adaptive scan draws from: its round's, which the driver
    puts into ``spec.proposal`` (round 0 draws from the prior)."""
    wanted = spec.round_of(index)
    if wanted == 0:
        return None
    if spec.proposal is None or spec.proposal["round"] != wanted:
        have = "none" if spec.proposal is None else f"round {spec.proposal['round']}'s"
        raise ValueError(f"chunk {index} belongs to adaptive round {wanted}, but the spec carries {have} proposal")
    return spec.proposal["proposal"]


def chunk_points(spec: ScanSpec, index: int) -> dict[str, np.ndarray]:
    """``point_id``, the nine parameters (user units) and the importance ``weight`` of chunk ``index``."""
    part = chunk(spec, index)
    weight = np.ones(part.size)
    if spec.sampler == LIST_SAMPLER:
        values = listed_rows(spec.points_file, spec.points_sha256, part.start, part.size)
    else:
        values = {}
        free = spec.free_parameters
        rng = chunk_randomness(spec.seed, index).points
        if spec.sampler == ADAPTIVE_SAMPLER:
            unit, weight = adaptive.draw(round_proposal(spec, index), len(free), part.size, rng)
        else:
            unit = unit_cube(spec.sampler, len(free), part.start, part.size, spec.seed, rng)
    for name, setting in spec.parameters.items():
        if isinstance(setting, Ranged):
            values[name] = to_range(unit[:, free.index(name)], setting)
        elif isinstance(setting, Fixed):
            values[name] = np.full(part.size, setting.value)
    for name, setting in spec.parameters.items():
        if isinstance(setting, Tied):
            values[name] = values[setting.same_as].copy()
    return {POINT_ID: part.point_ids, **{name: values[name] for name in spec.parameters}, WEIGHT: weight}
