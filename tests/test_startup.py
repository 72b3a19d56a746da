"""The command line imports only what a command needs: the heavy stacks load inside ``run``."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "numba", "ray", "dask", "distributed", "streamlit", "scipy", "pandas", "duckdb", "pyarrow", "tqdm")


def modules_loaded_by(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_building_the_whole_parser_imports_no_heavy_module():
    assert not modules_loaded_by("import dsscan.cli; dsscan.cli.build_parser()") & set(HEAVY)


@pytest.mark.parametrize("code", ["import dsscan", "import dsscan.config", "import lake.manifest", "import dsscan.parameters"])
def test_the_light_modules_stay_light(code):
    assert not modules_loaded_by(code) & set(HEAVY)
