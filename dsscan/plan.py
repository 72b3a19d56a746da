"""The deterministic plan of a scan: chunk i holds the points i*chunk_size ... and is generated
from (seed, i) alone (or is rows i*chunk_size ... of the points file, sampler = "list"), so the
result does not depend on which worker runs which chunk.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np

from dsscan import adaptive
from dsscan.config import ADAPTIVE_SAMPLER, LIST_SAMPLER, UNIFORM_SAMPLER, Fixed, ScanSpec, Tied
from dsscan.points_file import listed_rows
from dsscan.samplers import STREAM_STORAGE, counter_uniform, stream_key, to_range, uniform_in_ranges, unit_cube

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


def chunk(spec: ScanSpec, index: int) -> Chunk:
    if not 0 <= index < spec.n_chunks:
        raise ValueError(f"chunk index {index} outside the plan of {spec.n_chunks} chunks")
    start = index * spec.chunk_size
    return Chunk(index, start, min(spec.chunk_size, spec.points - start))


def chunks(spec: ScanSpec) -> list[Chunk]:
    return [chunk(spec, i) for i in range(spec.n_chunks)]


def chunk_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of chunk ``index`` for the samplers that draw a chunk at a time (lhs,
    adaptive), from (seed, chunk index) alone."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def storage_draws(spec: ScanSpec, first: int, count: int) -> np.ndarray:
    """A uniform [0, 1) draw per point ``first`` ... ``first + count - 1`` (point ids) for the storage
    policy's random sample: a function of (seed, point_id) alone, on a stream of its own."""
    return counter_uniform(stream_key(spec.seed, STREAM_STORAGE), first, count)[:, 0]


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


class BatchWeights(NamedTuple):
    """The importance weights of a batch's points, computed for the rows asked for only (``at``)."""

    drawn: adaptive.Drawn | None  # None: every weight is 1 (all samplers but adaptive)
    offset: int  # the batch's first point among drawn's

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The weights of the batch's points ``rows`` (indices)."""
        return np.ones(len(rows)) if self.drawn is None else self.drawn.weights(self.offset + rows)


def chunk_points(spec: ScanSpec, index: int) -> dict[str, np.ndarray]:
    """``point_id``, the nine parameters (user units) and the importance ``weight`` of chunk ``index``."""
    part = chunk(spec, index)
    points, weights = _points(spec, index, part.start, part.size)
    return {**points, WEIGHT: weights.at(np.arange(part.size))}


def chunk_batches(spec: ScanSpec, index: int, batch_points: int) -> Iterator[tuple[dict[str, np.ndarray], BatchWeights]]:
    """Chunk ``index`` (``chunk_points``) in consecutive batches of at most ``batch_points`` points,
    each with its weights, to be computed for the points a scan keeps: drawn batch by batch where a
    point depends on its point_id alone (uniform, list), so that a batch is drawn while the kernel's
    next input still fits in the cache; drawn whole and sliced for the samplers that draw a chunk at
    a time."""
    part = chunk(spec, index)
    starts = range(part.start, part.start + part.size, batch_points)
    if spec.sampler in (UNIFORM_SAMPLER, LIST_SAMPLER):
        for start in starts:
            yield _points(spec, index, start, min(batch_points, part.start + part.size - start))
    else:
        whole, weights = _points(spec, index, part.start, part.size)
        for start in starts:
            offset = start - part.start
            yield ({name: column[offset : offset + batch_points] for name, column in whole.items()},
                   BatchWeights(weights.drawn, offset))


def _points(spec: ScanSpec, index: int, start: int, size: int) -> tuple[dict[str, np.ndarray], BatchWeights]:
    """Points ``start`` ... ``start + size - 1`` of the plan, all in chunk ``index`` (the whole chunk
    but for the uniform and list samplers): ``point_id`` and the nine parameters, and their weights."""
    drawn = None
    if spec.sampler == LIST_SAMPLER:
        values = listed_rows(spec.points_file, spec.points_sha256, start, size)
    else:
        free = spec.free_parameters
        settings = [spec.parameters[name] for name in free]
        if spec.sampler == UNIFORM_SAMPLER:  # drawn and mapped in one pass
            columns = list(uniform_in_ranges(spec.seed, start, size, settings))
        else:
            rng = chunk_rng(spec.seed, index)
            if spec.sampler == ADAPTIVE_SAMPLER:
                drawn = adaptive.draw_points(round_proposal(spec, index), len(free), size, rng)
                unit = drawn.unit
            else:
                unit = unit_cube(spec.sampler, len(free), start, size, spec.seed, rng)
            columns = [to_range(unit[:, i], setting) for i, setting in enumerate(settings)]
        values = dict(zip(free, columns))
    for name, setting in spec.parameters.items():
        if isinstance(setting, Fixed):
            values[name] = np.full(size, setting.value)
    for name, setting in spec.parameters.items():
        if isinstance(setting, Tied):
            values[name] = values[setting.same_as].copy()
    point_ids = np.arange(start, start + size, dtype=np.uint64)
    return {POINT_ID: point_ids, **{name: values[name] for name in spec.parameters}}, BatchWeights(drawn, 0)
