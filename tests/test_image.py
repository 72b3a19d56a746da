"""The Dockerfile's install and warm-up steps, run as plain commands in a fresh virtual environment
(no container engine runs here, so the image itself is never built in CI).

The Dockerfile is read: its ARG defaults and ENV become the environment, its COPY lines copy the
checkout's files into a stand-in for the image's root (a temporary folder; every absolute path of
the image is mapped into it), and its RUN lines run there with the venv's bin first on PATH,
except the one that creates the image's user (it needs root). The venv sees the test's own
site-packages through a .pth file, so pip finds every dependency installed and builds and installs
only dsscan itself (``--system-site-packages`` would expose the base interpreter's packages, not
those of the venv CI installed into). Then: dsscan runs from the venv, not from the checkout, and a
fresh worker process finds the tables and the compiled kernel in the caches (numba loads and
saves nothing)."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import site
import subprocess
import venv

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

IMAGE_PATH = re.compile(r"(?<![\w./-])/(opt|home)/")  # the image's own absolute paths


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_the_dockerfile_installs_dsscan_and_warms_its_caches(tmp_path):
    root = tmp_path / "image"

    def image(text: str) -> str:
        """``text`` with the image's absolute paths moved under ``root``."""
        return IMAGE_PATH.sub(lambda m: f"{root}/{m.group(1)}/", text)
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "DSSCAN_CACHE_DIR")}
    venv_dir = tmp_path / "venv"
    venv.create(venv_dir, with_pip=True)
    [venv_site] = (venv_dir / "lib").glob("python*/site-packages")
    (venv_site / "test-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    environment["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{environment['PATH']}"
    arguments, workdir, ran = {}, root, []

    for instruction, rest in instructions((REPO / "Dockerfile").read_text()):
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            arguments[name] = default
        elif instruction == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                environment[name] = image(value)
        elif instruction == "WORKDIR":
            workdir = root / rest.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, destination = rest.split()
            target = workdir / destination if not destination.startswith("/") else root / destination.lstrip("/")
            for source in sources:
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(REPO / source, target if not destination.endswith("/") else target / source)
        elif instruction == "RUN" and not rest.startswith("useradd"):
            command = image(re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], rest))
            done = subprocess.run(command, shell=True, cwd=workdir, env=environment, capture_output=True, text=True, timeout=1500)
            assert done.returncode == 0, f"RUN {rest}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            ran.append(rest)
    assert any(r.startswith("pip install") for r in ran) and any("warm-up.sh" in r for r in ran), ran

    python = str(venv_dir / "bin" / "python")
    where = subprocess.run([python, "-c", "import dsscan; print(dsscan.__file__)"], cwd=tmp_path, env=environment,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv_site)), where  # the installed package, not the checkout

    tables = subprocess.run([str(venv_dir / "bin" / "dsscan"), "tables", "build"], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, check=True).stdout
    assert tables.startswith(f"up to date: {environment['DSSCAN_CACHE_DIR']}/"), tables
    worker = subprocess.run(  # what a chunk worker does when it starts
        [python, "-c", "from services.engine import warm_up; warm_up('datta2020'); warm_up('datta2024')"],
        cwd=tmp_path, env={**environment, "NUMBA_DEBUG_CACHE": "1"}, capture_output=True, text=True, check=True,
    )
    assert "[cache] data loaded" in worker.stdout and "[cache] data saved" not in worker.stdout, worker.stdout[-3000:]
