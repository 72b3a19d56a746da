"""Process start-up of every command that evaluates nothing, as a user runs it (a new process each
time), beside Python's own start-up. Prints the table; run with ``-s`` to see it:

    python -m pytest tests/benchmarks/test_startup_bench.py -s -m slow

No time is asserted (load on the machine decides it); the goal, each under 0.5 s here, is read off
the table. The best of REPEATS runs is shown: other load only ever slows a run down."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import REPO
from processes import DSSCAN

REPEATS = 5


def best_wall_seconds(argv: list[str], env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.slow
def test_start_up_of_each_command(small_lake):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    lake = ["--lake", str(small_lake)]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "dsscan --help": [*DSSCAN, "--help"],
        **{f"dsscan {c} --help": [*DSSCAN, c, "--help"] for c in ("scan", "point", "sql", "lake", "throughput", "bench")},
        "dsscan validate configs/demo.toml": [*DSSCAN, "validate", str(REPO / "configs" / "demo.toml"), *lake],
        "dsscan status small": [*DSSCAN, "status", "small", *lake],
        "dsscan lake ls": [*DSSCAN, "lake", "ls", *lake],
        "dsscan lake info small": [*DSSCAN, "lake", "info", "small", *lake],
        "dsscan lake verify": [*DSSCAN, "lake", "verify", *lake],
        "dsscan sql 'select count(*) from points'": [*DSSCAN, "sql", "select count(*) from points", *lake],
        "dsscan tables path": [*DSSCAN, "tables", "path"],
    }
    print(f"\nstart-up, best of {REPEATS} runs (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for name, argv in commands.items():
        print(f"  {name:<44} {best_wall_seconds(argv, env):6.2f} s")
