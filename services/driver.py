"""Run a scan: claim its folder in the lake, hand chunks to an engine, record each in the manifest."""
from __future__ import annotations

from typing import Callable

from dsscan.config import ScanSpec
from lake.layout import scan_dir
from lake.manifest import COMPLETE, ChunkRecord, Manifest
from services.engine import Engine, provenance


def ensure_new_scan(spec: ScanSpec) -> None:
    """Refuse a scan whose name the lake already holds, before anything is written."""
    folder = scan_dir(spec.lake_root, spec.name)
    if folder.exists():
        raise ValueError(
            f"scan.name: the lake {spec.lake_root!r} already holds a scan named {spec.name!r} ({folder}); "
            "choose another scan.name or --lake"
        )


def run_scan(spec: ScanSpec, engine: Engine, on_chunk: Callable[[ChunkRecord], None] = lambda record: None) -> Manifest:
    """Evaluate every chunk of ``spec`` with ``engine``; the manifest records each finished chunk."""
    ensure_new_scan(spec)
    folder = scan_dir(spec.lake_root, spec.name)
    manifest = Manifest(scan=spec.name, config=spec.scan_config(), provenance=provenance(spec), chunks_planned=spec.n_chunks)
    folder.mkdir(parents=True)
    manifest.save(spec.lake_root)

    def record(chunk: ChunkRecord) -> None:
        manifest.record(chunk)
        manifest.save(spec.lake_root)
        on_chunk(chunk)

    engine.run(spec, range(spec.n_chunks), record)
    manifest.status = COMPLETE
    manifest.save(spec.lake_root)
    return manifest
