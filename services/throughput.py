"""End-to-end scan throughput: real scans (sample, evaluate, keep, write Parquet, record in the
manifest) into a temporary lake, per storage policy and number of workers, from one run.

Each scan is what ``dsscan scan --engine E --workers W`` does, so its wall time includes starting
the engine (a Ray cluster takes seconds) and warming the workers. The rate after start-up counts
the points of the chunks recorded after the first W (whose time overlapped the workers' warm-up)
over the time from the W-th record to the last: the steady rate a long scan approaches.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass

from dsscan.config import ScanSpec
from services import make_engine
from services.driver import run_scan


@dataclass(frozen=True)
class ScanTiming:
    store: str
    workers: int
    points: int
    chunks: int
    rows: int
    wall_s: float
    points_per_s: float  # points / wall time, engine start-up included
    points_per_s_after_start_up: float


def time_scan(spec: ScanSpec, engine: str, workers: int) -> ScanTiming:
    """Run ``spec`` with ``workers`` workers of ``engine`` and time it (it needs more chunks than workers)."""
    if spec.n_chunks <= workers:
        raise ValueError(f"{spec.n_chunks} chunks for {workers} workers: give more points or smaller chunks")
    records: list[tuple[float, int]] = []  # (time recorded, points)
    started = time.perf_counter()
    manifest = run_scan(spec, make_engine(engine, workers=workers), lambda chunk: records.append((time.perf_counter(), chunk.points)))
    wall = time.perf_counter() - started
    steady_points = sum(points for _, points in records[workers:])
    steady_s = records[-1][0] - records[workers - 1][0]
    return ScanTiming(
        store=spec.store, workers=workers, points=spec.points, chunks=spec.n_chunks, rows=manifest.totals()["rows"],
        wall_s=wall, points_per_s=spec.points / wall,
        points_per_s_after_start_up=steady_points / steady_s if steady_s > 0 else float("nan"),
    )


def measure(
    base: ScanSpec, engine: str, points: dict[str, int], chunk_size: int, workers: tuple[int, ...], repeats: int
) -> list[ScanTiming]:
    """Time a scan of ``points[store]`` points for every storage policy in ``points`` and every
    worker count, each into its own temporary lake (deleted afterwards), ``repeats`` rounds of all
    of them; the fastest round of each is kept, which filters out other load on the machine."""
    best: dict[tuple[str, int], ScanTiming] = {}
    for _ in range(repeats):
        for store, n in points.items():
            for count in workers:
                with tempfile.TemporaryDirectory(prefix="dsscan-throughput-") as lake:
                    spec = dataclasses.replace(
                        base, name=f"throughput-{count}", points=n, chunk_size=chunk_size, store=store, lake_root=lake,
                        sample_rate=(base.sample_rate or 0.01) if store == "allowed+sample" else None,
                    )
                    timing = time_scan(spec, engine, count)
                kept = best.get((store, count))
                if kept is None or timing.points_per_s_after_start_up > kept.points_per_s_after_start_up:
                    best[(store, count)] = timing
    return list(best.values())


def speedup(timings: list[ScanTiming], store: str, many: int, one: int = 1) -> tuple[float, float]:
    """(after start-up, wall) rate of ``many`` workers over ``one``, for ``store``."""
    by_workers = {t.workers: t for t in timings if t.store == store}
    fast, slow = by_workers[many], by_workers[one]
    return fast.points_per_s_after_start_up / slow.points_per_s_after_start_up, fast.points_per_s / slow.points_per_s


def format_report(timings: list[ScanTiming], engine: str, chunk_size: int, cpus: int, repeats: int) -> str:
    header = ("store", "workers", "points", "chunks", "rows stored", "wall s", "points/s (wall)", "points/s (after start-up)")
    rows = [
        (t.store, str(t.workers), f"{t.points:,}", str(t.chunks), f"{t.rows:,}", f"{t.wall_s:.1f}",
         f"{t.points_per_s:,.0f}", f"{t.points_per_s_after_start_up:,.0f}")
        for t in timings
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [f"end-to-end scan throughput: engine {engine}, chunk_size {chunk_size:,}, {cpus} CPUs, "
             f"fastest of {repeats} round{'s' if repeats > 1 else ''}"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    counts = sorted({t.workers for t in timings})
    if 1 in counts and len(counts) > 1:
        for store in dict.fromkeys(t.store for t in timings):
            steady, wall = speedup(timings, store, counts[-1])
            lines.append(f"{counts[-1]} workers / 1 worker, store = {store}: {steady:.2f}x after start-up, {wall:.2f}x wall")
    return "\n".join(lines)
