"""A machine's first scan says what it builds (the upscattering tables, the kernel) before any chunk;
the next scan loads both from the caches and says nothing of them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import config_doc
from processes import DSSCAN

BUILDING = "building the upscattering tables (first run only"
COMPILING = "compiling the kernel (first run only)"


@pytest.mark.slow
def test_first_scan_tells_what_it_builds_before_any_chunk(write_config, tmp_path):
    env = {**os.environ, "DSSCAN_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PYTHONPATH": os.pathsep.join(sys.path)}

    def scan(name: str) -> list[str]:
        config = write_config(config_doc(scan={"name": name}))
        done = subprocess.run([*DSSCAN, "scan", str(config), "--engine", "local", "--lake", str(tmp_path / "lake")],
                              env=env, capture_output=True, text=True, timeout=1800, check=True)
        assert "chunks" in done.stderr  # the chunk bar was drawn
        return done.stdout.splitlines()

    first = scan("first")
    assert first[0].startswith("scan 'first'")
    assert first[1].startswith(BUILDING) and first[2] == COMPILING and first[3].startswith("done:")
    assert any((tmp_path / "cache").glob("scattering-tables-*.npz")) and any((tmp_path / "numba").rglob("*.nbi"))
    second = scan("second")
    assert second[1].startswith("done:")
