"""Big lakes in a test-sized way: one real scan's chunk file, hard-linked as every chunk of a larger
scan, with a manifest recording each link as its own chunk (same bytes, same sha256, same rows).
Queries see ``copies`` times the rows at no cost in disk or kernel time."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys

from lake.layout import chunk_file_name, manifest_path, scan_dir
from lake.manifest import Manifest


def replicated_scan(source_root: pathlib.Path, scan: str, root: pathlib.Path, copies: int) -> int:
    """Write scan ``scan`` into ``root`` as ``copies`` links of the first chunk file of ``scan`` in
    ``source_root``; returns the rows the new scan's ``points`` hold."""
    source = Manifest.load(manifest_path(source_root, scan))
    first = source.chunks[min(source.chunks)]
    folder = scan_dir(root, scan)
    folder.mkdir(parents=True)
    manifest = dataclasses.replace(source, chunks={}, chunks_planned=copies)
    for index in range(copies):
        name = chunk_file_name(index)
        os.link(scan_dir(source_root, scan) / first.file, folder / name)
        manifest.record(dataclasses.replace(first, index=index, file=name))
    manifest.save(root)
    return first.rows * copies


PEAK_RSS_OF_CHILD = """\
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_measuring_peak_rss(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, float]:
    """Run ``argv`` as the only child of a fresh Python process; its exit status and peak RSS in MiB
    (``getrusage(RUSAGE_CHILDREN)`` of that process covers exactly this one child; Linux gives KiB)."""
    out = subprocess.run([sys.executable, "-c", PEAK_RSS_OF_CHILD, *argv], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1]) / 1024
