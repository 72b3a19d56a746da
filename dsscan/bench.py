"""Side-by-side throughput of the kernel, ``evaluate`` and the per-point reference, from one run.

Everything is measured on the same points, drawn from a scan config (default: the paper-001
ranges), on one thread. Memory and cold/warm start are measured in fresh subprocesses so that
nothing this process has already allocated or compiled is counted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np

from dsscan.config import ScanSpec
from dsscan.constraints import load_constraint_set
from dsscan.parameters import PARAMETER_NAMES, readonly_float64
from dsscan.plan import chunk_points


@dataclass(frozen=True)
class BenchResult:
    points: int
    kernel_points_per_s: float
    evaluate_points_per_s: float
    reference_points_per_s: float
    reference_points: int
    reference_with_scattering_points_per_s: float | None
    peak_rss_MiB_for_1e6_batch: float
    cold_start_s: float
    warm_start_s: float
    warm_one_point_ms: float

    @property
    def speedup_vs_reference(self) -> float:
        return self.evaluate_points_per_s / self.reference_points_per_s

    @property
    def speedup_vs_reference_with_scattering(self) -> float | None:
        if self.reference_with_scattering_points_per_s is None:
            return None
        return self.evaluate_points_per_s / self.reference_with_scattering_points_per_s

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "speedup_vs_reference": self.speedup_vs_reference,
            "speedup_vs_reference_with_scattering": self.speedup_vs_reference_with_scattering,
        }


def sample_points(spec: ScanSpec, n: int) -> dict[str, np.ndarray]:
    """The first n points of the scan's plan (chunk 0 stretched to n points)."""
    from dataclasses import replace

    stretched = replace(spec, points=n, chunk_size=n)
    points = chunk_points(stretched, 0)
    return {name: points[name] for name in PARAMETER_NAMES}


def _best_rate(run, n: int, repeats: int) -> float:
    best = min(_timed(run) for _ in range(repeats))
    return n / best


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def kernel_rate(points: dict[str, np.ndarray], constraints: str, repeats: int) -> float:
    """The compiled kernel alone on warm output buffers: observables and verdicts, no Arrow."""
    from dsscan.physics import kernel

    cset = load_constraint_set(constraints)
    arrays = readonly_float64(points[name] for name in PARAMETER_NAMES)
    buffers = kernel.allocate_buffers(len(arrays[0]), len(cset.constraints))
    compiled = kernel.compile_constraints(cset)
    kernel.run_kernel(arrays, compiled, buffers)  # compile / load from cache
    return _best_rate(lambda: kernel.run_kernel(arrays, compiled, buffers), len(arrays[0]), repeats)


def evaluate_rate(points: dict[str, np.ndarray], constraints: str, repeats: int) -> float:
    import dsscan

    dsscan.evaluate({k: v[:2] for k, v in points.items()}, constraints)
    n = len(points["m_S_MeV"])
    return _best_rate(lambda: dsscan.evaluate(points, constraints), n, repeats)


def reference_rate(points: dict[str, np.ndarray], n: int) -> float:
    from dsscan.physics.reference import evaluate_reference

    few = {k: v[:n] for k, v in points.items()}
    return n / _timed(lambda: evaluate_reference(few))


def reference_with_scattering_rate(points: dict[str, np.ndarray], n: int) -> float | None:
    """Reference observables plus the reference upscattering integrals (None until they exist)."""
    try:
        from dsscan.physics.scattering import scattering_observables
    except ImportError:
        return None
    from dsscan.physics.reference import observables

    def run() -> None:
        for i in range(n):
            point = {k: float(v[i]) for k, v in points.items()}
            observables(point)
            scattering_observables(point)

    return n / _timed(run)


_SUBPROCESS_PROBE = """
import json, resource, sys, time
import numpy as np
start = time.perf_counter()
import dsscan
from dsscan.config import load_config
from dsscan.bench import sample_points
spec = load_config(sys.argv[1])
one = sample_points(spec, 1)
dsscan.evaluate(one, spec.constraints)
first_point_s = time.perf_counter() - start
points = sample_points(spec, int(sys.argv[2]))

def status_kB(field):  # Linux: VmRSS (now) and VmHWM (peak since the last reset)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

try:  # reset the peak, so that it covers the batch alone and not sample_points' temporaries
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before, peak_field = status_kB("VmRSS"), "VmHWM"
except OSError:  # elsewhere: the process's whole peak, an upper bound
    before, peak_field = 0, None
table = dsscan.evaluate(points, spec.constraints)
peak = status_kB(peak_field) if peak_field else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"first_point_s": first_point_s, "batch_peak_MiB": (peak - before) / 1024}))
"""


def probe_subprocess(config_path: str, n: int, numba_cache_dir: str) -> dict:
    """Fresh interpreter: seconds to the first evaluated point, and peak RSS growth for an n-point batch."""
    env = {**os.environ, "NUMBA_CACHE_DIR": numba_cache_dir}
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_PROBE, config_path, str(n)],
        env=env, check=True, capture_output=True, text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_bench(spec: ScanSpec, config_path: str, n: int, reference_points: int, repeats: int) -> BenchResult:
    points = sample_points(spec, n)
    with tempfile.TemporaryDirectory(prefix="dsscan-numba-cache-") as cache:
        cold = probe_subprocess(config_path, n, cache)  # empty cache: compiles everything
        warm = probe_subprocess(config_path, n, cache)  # cache filled by the cold run
    return BenchResult(
        points=n,
        kernel_points_per_s=kernel_rate(points, spec.constraints, repeats),
        evaluate_points_per_s=evaluate_rate(points, spec.constraints, repeats),
        reference_points_per_s=reference_rate(points, reference_points),
        reference_points=reference_points,
        reference_with_scattering_points_per_s=reference_with_scattering_rate(points, max(1, reference_points // 100)),
        peak_rss_MiB_for_1e6_batch=warm["batch_peak_MiB"] * 1e6 / n,
        cold_start_s=cold["first_point_s"],
        warm_start_s=warm["first_point_s"],
        warm_one_point_ms=1e3 / evaluate_rate({k: v[:1] for k, v in points.items()}, spec.constraints, 200),
    )


def format_report(result: BenchResult) -> str:
    with_scat = result.reference_with_scattering_points_per_s
    rows = [
        ("kernel (observables + verdicts, 1 thread)", f"{result.kernel_points_per_s:,.0f} points/s"),
        ("dsscan.evaluate (+ Arrow table, 1 thread)", f"{result.evaluate_points_per_s:,.0f} points/s"),
        (f"reference, no scattering ({result.reference_points} points)", f"{result.reference_points_per_s:,.1f} points/s"),
        ("reference with scattering", "not available" if with_scat is None else f"{with_scat:,.3f} points/s"),
        ("evaluate / reference", f"{result.speedup_vs_reference:,.0f} x"),
        ("evaluate / reference with scattering",
         "n/a" if with_scat is None else f"{result.speedup_vs_reference_with_scattering:,.3g} x"),
        ("peak RSS growth for a 10^6-point batch", f"{result.peak_rss_MiB_for_1e6_batch:,.0f} MiB"),
        ("cold start (empty numba cache) to first point", f"{result.cold_start_s:.2f} s"),
        ("warm start (cached kernel) to first point", f"{result.warm_start_s:.2f} s"),
        ("dsscan.evaluate of 1 point, tables and kernel loaded", f"{result.warm_one_point_ms:.2f} ms"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
