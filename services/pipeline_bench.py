"""One worker's end-to-end rate (``process_chunk``: sample, domain check, kernel, keep, write)
against its parts measured alone on the same chunks, interleaved so that other load on the
machine slows both alike: the kernel (``dsscan bench``'s figure) for store = "allowed+sample", and
for store = "all" pyarrow encoding the same table with the lake's settings in memory, pyarrow
writing it to a file of the lake's disk (``pq.write_table``), and writing it as durably as the lake
does (then fsync and rename, ``_durable_write_table``). Measured at the config's chunk size and at the default one,
since a file's fixed costs favour large chunks and a table that stays in the caches small ones.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass

import pyarrow.parquet as pq

from dsscan.bench import kernel_rate
from dsscan.config import SAMPLED_STORE, SCAN_DEFAULTS, ScanSpec
from dsscan.parameters import PARAMETER_NAMES, inside_domain
from dsscan.plan import chunk_points
from lake.layout import chunk_file_name, scan_dir
from lake.writer import parquet_bytes, parquet_options
from services.engine import process_chunk


@dataclass(frozen=True)
class PipelineRates:
    scenario: str  # the config's name, as sampler_bench labels it ("kappa", "kappa0")
    chunk_size: int
    worker_sampled_points_per_s: float  # process_chunk, store = allowed+sample
    kernel_points_per_s: float
    worker_all_points_per_s: float  # process_chunk, store = all
    pyarrow_rows_per_s: float  # pq.write_table of the same tables with the lake's settings, in memory
    pyarrow_file_rows_per_s: float  # ... to a file on the lake's disk
    pyarrow_durable_rows_per_s: float  # ... and written as the lake writes it: fsync, rename

    @property
    def worker_over_kernel(self) -> float:
        return self.worker_sampled_points_per_s / self.kernel_points_per_s

    @property
    def all_over_pyarrow(self) -> float:
        return self.worker_all_points_per_s / self.pyarrow_rows_per_s

    @property
    def all_over_pyarrow_file(self) -> float:
        return self.worker_all_points_per_s / self.pyarrow_file_rows_per_s

    @property
    def all_over_pyarrow_durable(self) -> float:
        return self.worker_all_points_per_s / self.pyarrow_durable_rows_per_s

    def as_dict(self) -> dict:
        ratios = ("worker_over_kernel", "all_over_pyarrow", "all_over_pyarrow_file", "all_over_pyarrow_durable")
        return {**dataclasses.asdict(self), **{name: getattr(self, name) for name in ratios}}


def _best(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _durable_write_table(table, path) -> None:
    """pyarrow alone, as durable as a chunk file: ``pq.write_table`` to a sibling, fsync, rename."""
    temp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temp, **parquet_options(table.schema))
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, path)


def pipeline_chunk_sizes(base: ScanSpec) -> tuple[int, ...]:
    """The config's chunk size and the default one."""
    return tuple(sorted({base.chunk_size, SCAN_DEFAULTS["chunk_size"]}))


def measure_pipeline(base: ScanSpec, scenario: str, chunk_size: int, chunks: int, repeats: int) -> PipelineRates:
    """Best-of-``repeats`` seconds per chunk of chunks 1 .. ``chunks`` (chunk 0 warms up), summed."""
    with tempfile.TemporaryDirectory(prefix="dsscan-pipeline-") as lake:
        sampled = dataclasses.replace(base, name="sampled", sampler="uniform", chunk_size=chunk_size,
                                      points=(chunks + 1) * chunk_size, store=SAMPLED_STORE,
                                      sample_rate=base.sample_rate or 0.01, lake_root=lake,
                                      round_points=None, defensive_share=None)
        every = dataclasses.replace(sampled, name="all", store="all", sample_rate=None)
        for spec in (sampled, every):
            process_chunk(spec, 0)
        seconds = dict.fromkeys(("sampled", "kernel", "all", "pyarrow", "file", "durable"), 0.0)
        points = 0
        folder = scan_dir(lake, "all")
        for index in range(1, chunks + 1):
            drawn = chunk_points(sampled, index)
            inside = inside_domain(drawn)
            params = {n: drawn[n][inside] for n in PARAMETER_NAMES}
            seconds["sampled"] += _best(lambda: process_chunk(sampled, index), repeats)
            seconds["kernel"] += len(inside) / kernel_rate(params, base.constraints, repeats)
            seconds["all"] += _best(lambda: process_chunk(every, index), repeats)
            table = pq.read_table(folder / chunk_file_name(index))
            seconds["pyarrow"] += _best(lambda: parquet_bytes(table), repeats)
            seconds["file"] += _best(lambda: pq.write_table(table, folder / "pyarrow.parquet", **parquet_options(table.schema)), repeats)
            seconds["durable"] += _best(lambda: _durable_write_table(table, folder / "pyarrow.parquet"), repeats)
            points += len(inside)
    return PipelineRates(
        scenario=scenario,
        chunk_size=chunk_size,
        worker_sampled_points_per_s=chunks * chunk_size / seconds["sampled"],
        kernel_points_per_s=points / seconds["kernel"],
        worker_all_points_per_s=chunks * chunk_size / seconds["all"],
        pyarrow_rows_per_s=points / seconds["pyarrow"],
        pyarrow_file_rows_per_s=points / seconds["file"],
        pyarrow_durable_rows_per_s=points / seconds["durable"],
    )


def format_pipeline(rates: list[PipelineRates]) -> str:
    """A column per chunk size."""
    rows = [
        ("worker, store = allowed+sample (points/s)", lambda r: f"{r.worker_sampled_points_per_s:,.0f}"),
        ("kernel alone, same points (points/s)", lambda r: f"{r.kernel_points_per_s:,.0f}"),
        ("  worker / kernel", lambda r: f"{r.worker_over_kernel:.0%}"),
        ("worker, store = all (points/s)", lambda r: f"{r.worker_all_points_per_s:,.0f}"),
        ("pyarrow encoding the same table (rows/s)", lambda r: f"{r.pyarrow_rows_per_s:,.0f}"),
        ("  worker / pyarrow encoding", lambda r: f"{r.all_over_pyarrow:.0%}"),
        ("pyarrow writing it to a file (rows/s)", lambda r: f"{r.pyarrow_file_rows_per_s:,.0f}"),
        ("  worker / pyarrow writing", lambda r: f"{r.all_over_pyarrow_file:.0%}"),
        ("... with fsync, as the lake writes (rows/s)", lambda r: f"{r.pyarrow_durable_rows_per_s:,.0f}"),
        ("  worker / pyarrow writing durably", lambda r: f"{r.all_over_pyarrow_durable:.0%}"),
    ]
    header = ("one worker, best of the repeats, interleaved", *(f"{r.scenario}, chunks of {r.chunk_size:,}" for r in rates))
    table = [header] + [(label, *(cell(r) for r in rates)) for label, cell in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
                     for row in table)
