"""The manifest of a scan: one small JSON file, rewritten atomically, that says which chunks exist.

It records the full config, seed, code version, input and constraint-set provenance, the
environment that started the scan, the plan, every finished chunk (file, rows, checksum) and the
scan's status. A chunk file that the manifest does not list is garbage from a crash and is never
read. Locally the file is replaced by a rename, on an object store by one PUT; either way a
reader sees the previous manifest or the new one. Only the driver writes it.
"""
from __future__ import annotations

import dataclasses
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
    import importlib.metadata  # here: reading a manifest needs none of it

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
STATUSES = (RUNNING, COMPLETE, INTERRUPTED, FAILED)


class ManifestError(ValueError):
    """A manifest that cannot be read or lacks what readers use: the message names the file and
    the way out; only that one scan is affected."""

    def __init__(self, path: object, problem: str):
        scan = lake_path(path).parent.name.split("=", 1)[-1]
        super().__init__(f"{path}: damaged manifest ({problem}); only scan {scan!r} is affected, "
                         f"'dsscan lake rm {scan} --yes' removes it")
        self.scan = scan


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


CHUNK_COUNTS = ("points", "outside_domain", "rows", "allowed", "sampled")  # the count columns of a ChunkRecord


def _json_array(items: list[str]) -> str:
    """A JSON array of already encoded items, an item a line."""
    return "[\n" + ",\n".join(items) + "\n]" if items else "[]"


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
    # earlier rounds ({"round": r, "proposal": None} draws from the prior); a round is appended whole
    # and never changed (to_json encodes each once)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def record(self, chunk: ChunkRecord) -> None:
        self.chunks[chunk.index] = chunk

    def totals(self) -> dict[str, int]:
        """Sums over the recorded chunks of every count column."""
        return {c: sum(getattr(r, c) for r in self.chunks.values()) for c in CHUNK_COUNTS}

    def to_json(self) -> str:
        """The manifest as JSON, a line per field, chunk record and round: each encoded by json's C
        encoder (``indent`` would take its pure-Python one), a round once per manifest object (an
        adaptive scan's hundred proposals took most of a save's time), without ``dataclasses.asdict``'s
        deep copy."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        lines = {"chunks": [json.dumps(vars(self.chunks[i])) for i in sorted(self.chunks)],
                 "rounds": [self._round_json(r) for r in self.rounds]}
        fields = [f"{json.dumps(name)}: {_json_array(lines[name]) if name in lines else json.dumps(value)}"
                  for name, value in doc.items()]
        return "{\n" + ",\n".join(fields) + "\n}\n"

    def _round_json(self, round_doc: dict) -> str:
        """A recorded round as JSON, encoded once (keyed by the dict itself, which the cache holds)."""
        cache = self.__dict__.setdefault("_encoded_rounds", {})
        held, text = cache.get(id(round_doc), (None, ""))
        if held is not round_doc:
            text = json.dumps(round_doc)
            cache[id(round_doc)] = (round_doc, text)
        return text

    def save(self, root: str | LakePath) -> LakePath:
        path = manifest_path(root, self.scan)
        atomic_write(path, self.to_json().encode())
        return path

    @classmethod
    def load(cls, path: str | LakePath) -> "Manifest":
        """The manifest at ``path``; a ``ManifestError`` naming the file if it is not valid JSON or
        lacks (or mistypes) anything that ``status``, ``sql``, ``lake`` and ``--resume`` read."""
        try:
            doc = json.loads(lake_path(path).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(path, f"not valid JSON: {exc}") from None
        except FileNotFoundError:
            raise
        except OSError as exc:  # e.g. a folder in its place: still only this scan's problem
            raise ManifestError(path, f"cannot be read: {exc}") from None
        if not isinstance(doc, dict):
            raise ManifestError(path, f"expected a JSON object, got {type(doc).__name__}")
        if doc.get("format") != MANIFEST_FORMAT:
            raise ManifestError(path, f"manifest format {doc.get('format')!r}, this dsscan reads {MANIFEST_FORMAT}")
        doc.setdefault("environment", {})  # manifests written before the environment was recorded
        doc.setdefault("rounds", [])  # ... and before adaptive rounds
        problem = _structure_problem(doc)
        if problem:
            raise ManifestError(path, problem)
        records = doc.pop("chunks")
        chunks = {c["index"]: ChunkRecord(**c) for c in records}
        if len(chunks) != len(records) or any(not 0 <= i < doc["chunks_planned"] for i in chunks):
            raise ManifestError(path, f"chunks: an index recorded twice or outside the plan of {doc['chunks_planned']} chunks")
        return cls(**doc, chunks=chunks)


_JSON_TYPES = {"int": int, "str": str, "float": (int, float), "dict": dict, "list": list}
# What readers use beyond the dataclass fields: "key" -> type, or -> nested layout.
_DOCUMENT_LAYOUT = {
    "format": "int", "scan": "str", "chunks_planned": "int", "status": "str", "chunks": "list", "environment": "dict",
    "rounds": "list",
    "config": {"scan": {"name": "str", "seed": "int", "points": "int", "chunk_size": "int", "constraints": "str",
                        "sampler": "str", "store": "str"},
               "parameters": "dict"},
    "provenance": {"code_version": "str", "inputs": {"version": "str", "sha256": "str"},
                   "constraint_set": {"name": "str", "version": "str", "sha256": "str"}},
}
_CHUNK_LAYOUT = {f.name: f.type for f in dataclasses.fields(ChunkRecord)}


def _layout_problem(value: Any, layout: str | dict, where: str) -> str | None:
    """What in ``value`` departs from ``layout`` (a JSON type name or a table of them), or None."""
    if isinstance(layout, str):
        wanted = _JSON_TYPES[layout]
        if isinstance(value, bool) or not isinstance(value, wanted):
            return f"{where}: expected {layout}, got {json.dumps(value)[:40]}"
        return None
    if not isinstance(value, dict):
        return f"{where}: expected an object, got {json.dumps(value)[:40]}"
    for key, inner in layout.items():
        if key not in value:
            return f"{where + '.' if where else ''}{key}: missing"
        problem = _layout_problem(value[key], inner, f"{where + '.' if where else ''}{key}")
        if problem:
            return problem
    return None


def _structure_problem(doc: dict) -> str | None:
    """The first thing in a parsed manifest that readers could not use, or None."""
    extra = sorted(set(doc) - set(_DOCUMENT_LAYOUT))
    if extra:
        return f"unknown key {extra[0]!r}"
    problem = _layout_problem(doc, _DOCUMENT_LAYOUT, "")
    if problem:
        return problem
    if doc["status"] not in STATUSES:
        return f"status: expected one of {list(STATUSES)}, got {doc['status']!r}"
    if doc["chunks_planned"] < 1:
        return f"chunks_planned: expected an integer >= 1, got {doc['chunks_planned']}"
    for n, chunk in enumerate(doc["chunks"]):
        if isinstance(chunk, dict) and set(chunk) != set(_CHUNK_LAYOUT):
            return f"chunks[{n}]: expected the keys {sorted(_CHUNK_LAYOUT)}, got {sorted(chunk)}"
        problem = _layout_problem(chunk, _CHUNK_LAYOUT, f"chunks[{n}]")
        if problem:
            return problem
    return None
