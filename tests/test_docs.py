"""Every ``dsscan`` command in a code block of README.md and docs/*.md runs, as a user would type it,
so the documentation cannot drift from the tool. A page added to docs/ is picked up by itself.

Each page runs in a fresh folder holding scaled-down copies of configs/ (at most SCALED_POINTS points)
and a real lake: the folder's default lake (./dsscan-lake) and any other --lake a command names
(a directory, or a bucket of a local S3 stand-in) get the demo scan before a command that reads
one. A command runs through bash, so its pipes and redirections work, with ``dsscan`` (also as
``.venv/bin/dsscan`` or ``/any/bin/dsscan``) meaning this tree's CLI. In a block with ``$ ``
prompts only the prompted lines are commands (the rest is their output); in a ``bash`` block every
line that starts with a dsscan executable is, and ``a && b`` runs its dsscan parts. A command that cannot
run here is listed in SKIPPED with the reason; one that should fail, in EXPECTED_STATUS.
"""
from __future__ import annotations

import os
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

import boto3
import pytest

from conftest import REPO, S3_ENV
from dsscan.config import dumps_toml

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SCALED_POINTS, SCALED_CHUNK = 2000, 1000
DSSCAN_EXECUTABLE = re.compile(r"(?<![\w/.-])(?:[\w./-]*/)?(?:\.venv/bin/)?dsscan(?= )")
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
SHELL_BLOCKS = ("bash", "sh", "shell")  # blocks of commands; any other block holds commands only after "$ "

# substring of a command -> why it does not run here (and where it is tested instead)
SKIPPED = {
    "--address ray://": "joins a Ray cluster at that address; tests/test_engines_address.py runs one",
    "--address tcp://": "joins a Dask scheduler at that address; tests/test_engines_address.py runs one",
    "tables build --force": "rebuilds the upscattering tables (15 CPU-seconds); tests/benchmarks/test_tables_build.py",
    "dsscan app": "serves the explorer until stopped; tests/test_app_browser.py starts it and drives it in Chromium",
    ":8265": "talks to a Ray cluster's dashboard (Jobs API); tests/test_submit_cluster.py runs submit and jobs on a simulated cluster",
    "status datta2024 --lake s3://my-bucket/lake": "the scan a RayJob wrote; tests/test_submit_cluster.py runs status on a submitted scan's S3 lake",
    "| kubectl apply": "needs a Kubernetes API server; tests/test_k8s_manifests.py validates the rendered manifests offline",
}
# substring of a command -> its exit status, when the page shows it failing on purpose
EXPECTED_STATUS: dict[str, int] = {}
# subcommand -> options appended so that it runs in seconds (argparse: the last value wins)
SCALED_OPTIONS = {
    "throughput": ["--points", "8000", "--points-all", "4000", "--chunk-size", "1000", "--repeats", "1"],
    "bench": ["--points", "2000", "--reference-points", "2", "--repeats", "1"],
}
# a file a page's commands name besides configs/*.toml: (the config it is a copy of, its scan.name)
EXTRA_CONFIGS = {"big.toml": ("datta2024.toml", "datta2024-1e8")}
# subcommands that read a lake (they get the demo scan first)
READS_A_LAKE = ("sql", "status", "lake")


def shell_commands(page: pathlib.Path) -> list[str]:
    """The dsscan commands of a page's code blocks, in order, with the executable spelled ``dsscan``."""
    commands = []
    for language, block in FENCE.findall(page.read_text()):
        lines = block.replace("\\\n", " ").splitlines()
        prompted = [line[2:] for line in lines if line.startswith("$ ")]
        for line in prompted if prompted or language not in SHELL_BLOCKS else lines:
            for part in line.split("&&"):
                part = part.strip()
                if DSSCAN_EXECUTABLE.match(part + " "):
                    commands.append(without_comment(DSSCAN_EXECUTABLE.sub("dsscan", part, count=1)))
    return commands


def without_comment(command: str) -> str:
    """The command before its ``# comment`` (a ``#`` inside quotes is no comment)."""
    words = shlex.split(command, comments=True)
    for match in re.finditer(r"\s#", command):
        try:
            if shlex.split(command[:match.start()]) == words:
                return command[:match.start()].rstrip()
        except ValueError:  # the # is inside quotes
            continue
    return command


def all_commands() -> list[tuple[str, str]]:
    return [(page.relative_to(REPO).as_posix(), command) for page in PAGES for command in shell_commands(page)]


def scaled_config(source: pathlib.Path, name: str | None = None) -> str:
    doc = tomllib.loads(source.read_text())
    doc["scan"]["points"] = min(doc["scan"]["points"], SCALED_POINTS)
    doc["scan"]["chunk_size"] = min(doc["scan"].get("chunk_size", SCALED_CHUNK), SCALED_CHUNK)
    if name:
        doc["scan"]["name"] = name
    return dumps_toml({table: doc[table] for table in ("scan", "parameters") if table in doc})


@pytest.fixture
def page_folder(tmp_path, s3_endpoint) -> tuple[pathlib.Path, dict[str, str]]:
    """A folder like a clone's top: scaled configs, a ``dsscan`` on PATH, an S3 stand-in in the environment."""
    (tmp_path / "configs").mkdir()
    for config in (REPO / "configs").glob("*.toml"):
        (tmp_path / "configs" / config.name).write_text(scaled_config(config))
    for name, (source, scan) in EXTRA_CONFIGS.items():
        (tmp_path / name).write_text(scaled_config(REPO / "configs" / source, scan))
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "dsscan"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m dsscan.cli \"$@\"\n")
    shim.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != "DSSCAN_LAKE"}
    env |= S3_ENV | {"AWS_ENDPOINT_URL": s3_endpoint, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
                     "PYTHONPATH": os.pathsep.join(sys.path)}
    return tmp_path, env


def lakes_named(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "--lake"] or ["./dsscan-lake"]


def ensure_demo_scan(folder: pathlib.Path, env: dict[str, str], lake: str) -> None:
    if lake.startswith("s3://"):
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])
        bucket = lake[len("s3://"):].split("/")[0]
        if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=bucket)
    status = subprocess.run(["dsscan", "status", "demo", "--lake", lake], cwd=folder, env=env, capture_output=True)
    if status.returncode != 0:
        subprocess.run(["dsscan", "scan", "configs/demo.toml", "--lake", lake, "--engine", "local", "--no-progress"],
                       cwd=folder, env=env, capture_output=True, check=True)


@pytest.mark.slow
@pytest.mark.parametrize("page", [page.relative_to(REPO).as_posix() for page in PAGES])
def test_every_dsscan_command_of_the_page_runs(page, page_folder):
    folder, env = page_folder
    for command in shell_commands(REPO / page):
        if reason := next((why for part, why in SKIPPED.items() if part in command), None):
            print(f"skipped: {command}  ({reason})")
            continue
        argv = shlex.split(command)
        subcommand = argv[1] if len(argv) > 1 else ""
        if subcommand in READS_A_LAKE:
            for lake in lakes_named(argv):
                ensure_demo_scan(folder, env, lake)
        if subcommand == "scan" and "--resume" not in argv:  # a page may scan a name the folder holds
            name = tomllib.loads((folder / argv[2]).read_text())["scan"]["name"]
            for lake in lakes_named(argv):
                subprocess.run(["dsscan", "lake", "rm", name, "--yes", "--lake", lake], cwd=folder, env=env, capture_output=True)
        command += "".join(f" {shlex.quote(o)}" for o in SCALED_OPTIONS.get(subcommand, []))
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=600)
        expected = next((status for part, status in EXPECTED_STATUS.items() if part in command), 0)
        assert done.returncode == expected, f"{page}: {command}\n{done.stderr[-2000:]}"


def test_the_pages_hold_dsscan_commands():
    """The extraction itself: every page is read and the README's quickstart commands are found."""
    found = all_commands()
    assert ("README.md", "dsscan scan configs/demo.toml") in found
    assert any(command.startswith("dsscan sql ") for page, command in found if page == "README.md")
    assert {page for page, _ in found} >= {"README.md", "docs/cli.md"}
