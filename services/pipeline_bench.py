"""One worker's end-to-end rate (``process_chunk``: sample, domain check, kernel, keep, write)
against its parts measured alone on the same chunks, interleaved so that other load on the
machine slows both alike: the kernel (``dsscan bench``'s figure) for store = "allowed+sample", and
for store = "all" pyarrow encoding the same table with the lake's settings in memory, and encoding
it and writing it to the lake's disk as durably as the lake does (``atomic_write``: fsync, rename).
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass

import pyarrow.parquet as pq

from dsscan.bench import kernel_rate
from dsscan.config import SAMPLED_STORE, ScanSpec
from dsscan.parameters import PARAMETER_NAMES, inside_domain
from dsscan.plan import chunk_points
from lake.atomic import atomic_write
from lake.layout import chunk_file_name, scan_dir
from lake.writer import parquet_bytes
from services.engine import process_chunk


@dataclass(frozen=True)
class PipelineRates:
    chunk_size: int
    worker_sampled_points_per_s: float  # process_chunk, store = allowed+sample
    kernel_points_per_s: float
    worker_all_points_per_s: float  # process_chunk, store = all
    pyarrow_rows_per_s: float  # pq.write_table of the same tables with the lake's settings, in memory
    pyarrow_to_disk_rows_per_s: float  # ... and written to the lake's disk with fsync

    @property
    def worker_over_kernel(self) -> float:
        return self.worker_sampled_points_per_s / self.kernel_points_per_s

    @property
    def all_over_pyarrow(self) -> float:
        return self.worker_all_points_per_s / self.pyarrow_rows_per_s

    @property
    def all_over_pyarrow_to_disk(self) -> float:
        return self.worker_all_points_per_s / self.pyarrow_to_disk_rows_per_s


def _best(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def measure_pipeline(base: ScanSpec, chunks: int, repeats: int) -> PipelineRates:
    """Best-of-``repeats`` seconds per chunk of chunks 1 .. ``chunks`` (chunk 0 warms up), summed."""
    with tempfile.TemporaryDirectory(prefix="dsscan-pipeline-") as lake:
        sampled = dataclasses.replace(base, name="sampled", sampler="uniform", points=(chunks + 1) * base.chunk_size,
                                      store=SAMPLED_STORE, sample_rate=base.sample_rate or 0.01, lake_root=lake,
                                      round_points=None, defensive_share=None)
        every = dataclasses.replace(sampled, name="all", store="all", sample_rate=None)
        for spec in (sampled, every):
            process_chunk(spec, 0)
        seconds = {"sampled": 0.0, "kernel": 0.0, "all": 0.0, "pyarrow": 0.0, "pyarrow_to_disk": 0.0}
        points = 0
        for index in range(1, chunks + 1):
            drawn = chunk_points(sampled, index)
            inside = inside_domain(drawn)
            params = {n: drawn[n][inside] for n in PARAMETER_NAMES}
            seconds["sampled"] += _best(lambda: process_chunk(sampled, index), repeats)
            seconds["kernel"] += len(inside) / kernel_rate(params, base.constraints, repeats)
            seconds["all"] += _best(lambda: process_chunk(every, index), repeats)
            table = pq.read_table(scan_dir(lake, "all") / chunk_file_name(index))
            seconds["pyarrow"] += _best(lambda: parquet_bytes(table), repeats)
            seconds["pyarrow_to_disk"] += _best(lambda: atomic_write(scan_dir(lake, "all") / "pyarrow.parquet", parquet_bytes(table)), repeats)
            points += len(inside)
    return PipelineRates(
        chunk_size=base.chunk_size,
        worker_sampled_points_per_s=chunks * base.chunk_size / seconds["sampled"],
        kernel_points_per_s=points / seconds["kernel"],
        worker_all_points_per_s=chunks * base.chunk_size / seconds["all"],
        pyarrow_rows_per_s=points / seconds["pyarrow"],
        pyarrow_to_disk_rows_per_s=points / seconds["pyarrow_to_disk"],
    )


def format_pipeline(r: PipelineRates) -> str:
    return "\n".join([
        f"one worker, chunks of {r.chunk_size:,} points (best of the repeats, interleaved):",
        f"  worker, store = allowed+sample  {r.worker_sampled_points_per_s:13,.0f} points/s",
        f"  kernel alone, same points       {r.kernel_points_per_s:13,.0f} points/s   "
        f"worker / kernel = {r.worker_over_kernel:.0%}",
        f"  worker, store = all             {r.worker_all_points_per_s:13,.0f} points/s",
        f"  pyarrow encoding the same tables {r.pyarrow_rows_per_s:12,.0f} rows/s     "
        f"worker / pyarrow = {r.all_over_pyarrow:.0%}",
        f"  ... and writing them with fsync {r.pyarrow_to_disk_rows_per_s:13,.0f} rows/s     "
        f"worker / pyarrow to disk = {r.all_over_pyarrow_to_disk:.0%}",
    ])
