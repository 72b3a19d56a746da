"""The manifest of a scan: one small JSON file, rewritten atomically, that says which chunks exist.

It records the full config, seed, code version, input and constraint-set provenance, the
environment that started the scan, the plan, every finished chunk (file, rows, checksum) and the
scan's status. A chunk file that the manifest does not list is garbage from a crash and is never
read. Locally the file is replaced by a rename, on an object store by one PUT; either way a
reader sees the previous manifest or the new one. Only the driver writes it.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

from lake.atomic import atomic_write
from lake.layout import manifest_path
from lake.storage import LakePath, lake_path

MANIFEST_FORMAT = 1
ENVIRONMENT_PACKAGES = ("dsscan", "numpy", "numba", "scipy", "pyarrow", "duckdb")


def environment_info() -> dict[str, Any]:
    """Python, platform and the versions of the packages the stored numbers and files depend on."""
    versions = {}
    for name in ENVIRONMENT_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "packages": versions}
RUNNING, COMPLETE = "running", "complete"
INTERRUPTED, FAILED = "interrupted", "failed"  # stopped by Ctrl-C / by a chunk that kept failing; resumable


@dataclass(frozen=True)
class ChunkRecord:
    """A finished chunk: the small summary a worker returns and the manifest keeps."""

    index: int
    file: str
    points: int  # points in the plan's chunk
    outside_domain: int  # points outside the supported domain (m_S_MeV >= m_nu4_MeV, ...), not evaluated
    rows: int  # rows stored
    allowed: int  # allowed points (all of them are stored)
    sampled: int  # stored rejected points (store = "allowed+sample")
    sha256: str
    seconds: float


@dataclass
class Manifest:
    scan: str
    config: dict[str, Any]
    provenance: dict[str, Any]  # code version, inputs and constraint-set versions and checksums
    chunks_planned: int
    status: str = RUNNING
    chunks: dict[int, ChunkRecord] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT
    environment: dict[str, Any] = field(default_factory=environment_info)  # of the process that started the scan
    # sampler = "adaptive": per round (from 0), the proposal its chunks draw from, fitted on the
    # earlier rounds ({"round": r, "proposal": None} draws from the prior)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def record(self, chunk: ChunkRecord) -> None:
        self.chunks[chunk.index] = chunk

    def totals(self) -> dict[str, int]:
        """Sums over the recorded chunks of every count column."""
        counts = ("points", "outside_domain", "rows", "allowed", "sampled")
        return {c: sum(getattr(r, c) for r in self.chunks.values()) for c in counts}

    def to_json(self) -> str:
        doc = dataclasses.asdict(self)
        doc["chunks"] = [dataclasses.asdict(self.chunks[i]) for i in sorted(self.chunks)]
        return json.dumps(doc, indent=1)

    def save(self, root: str | LakePath) -> LakePath:
        path = manifest_path(root, self.scan)
        atomic_write(path, self.to_json().encode())
        return path

    @classmethod
    def load(cls, path: str | LakePath) -> "Manifest":
        doc = json.loads(lake_path(path).read_text())
        if doc.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{path}: manifest format {doc.get('format')!r}, this dsscan reads {MANIFEST_FORMAT}")
        chunks = {c["index"]: ChunkRecord(**c) for c in doc.pop("chunks")}
        doc.setdefault("environment", {})  # manifests written before the environment was recorded
        doc.setdefault("rounds", [])  # ... and before adaptive rounds
        return cls(**doc, chunks=chunks)
