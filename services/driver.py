"""Run a scan: claim its folder in the lake (or take up a stopped one), hand the chunks its manifest
does not record yet to an engine, and record each chunk in the manifest once its file is complete.

Exactly once: a chunk counts only when the saved manifest records it, and the manifest records it
only after the engine reports its file complete. A resumed scan redoes every unrecorded chunk; a file
left by a chunk that was in flight is overwritten by the same bytes, since chunk i depends on
(seed, i) alone (and, for sampler = "adaptive", on its round's proposal, which the manifest records:
``services.rounds``).
"""
from __future__ import annotations

import time
from typing import Callable

from dsscan.config import ADAPTIVE_SAMPLER, ScanSpec
from lake.layout import manifest_path, scan_dir
from lake.manifest import COMPLETE, FAILED, INTERRUPTED, RUNNING, ChunkRecord, Manifest
from services.engine import Engine, provenance
from services.rounds import run_rounds


def ensure_new_scan(spec: ScanSpec) -> None:
    """Refuse a scan whose name the lake already holds, before anything is written."""
    folder = scan_dir(spec.lake_root, spec.name)
    if folder.exists():
        raise ValueError(
            f"scan.name: the lake {spec.lake_root!r} already holds a scan named {spec.name!r} ({folder}); "
            "choose another scan.name or --lake, or continue it with --resume"
        )


def _differing_keys(recorded: dict, wanted: dict) -> list[str]:
    """``table.key`` for every entry in which two configs (as ``ScanSpec.scan_config``) differ."""
    keys = []
    for table in sorted(set(recorded) | set(wanted)):
        old, new = recorded.get(table, {}), wanted.get(table, {})
        keys += [f"{table}.{key}" for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    return keys


def stopped_scan(spec: ScanSpec) -> Manifest:
    """The manifest of the scan ``spec`` resumes; refuses one started with another config or other code."""
    path = manifest_path(spec.lake_root, spec.name)
    if not path.exists():
        raise ValueError(
            f"--resume: the lake {spec.lake_root!r} holds no scan named {spec.name!r}; run without --resume to start it"
        )
    manifest = Manifest.load(path)
    differing = _differing_keys(manifest.config, spec.scan_config())
    if differing:
        raise ValueError(
            f"--resume: scan {spec.name!r} was started with another config ({', '.join(differing)} differ); "
            "resume it with the config it was started with"
        )
    recorded, current = manifest.provenance, provenance(spec)
    if recorded != current:
        changed = ", ".join(key for key in sorted(set(recorded) | set(current)) if recorded.get(key) != current.get(key))
        raise ValueError(
            f"--resume: scan {spec.name!r} was started with other code or physics inputs ({changed} changed), "
            "so new chunks would not match its recorded ones; start a new scan"
        )
    return manifest


def run_scan(
    spec: ScanSpec, engine: Engine, on_chunk: Callable[[ChunkRecord], None] = lambda record: None, resume: bool = False
) -> Manifest:
    """Evaluate every chunk of ``spec`` that its manifest does not record yet (all of them for a new
    scan) with ``engine``; the manifest records each finished chunk. On Ctrl-C the manifest is left
    ``interrupted``, on any other error ``failed``; both are resumable."""
    if resume:
        manifest = stopped_scan(spec)
    else:
        ensure_new_scan(spec)
        manifest = Manifest(scan=spec.name, config=spec.scan_config(), provenance=provenance(spec), chunks_planned=spec.n_chunks)
        scan_dir(spec.lake_root, spec.name).mkdir(parents=True)
    remaining = [i for i in range(spec.n_chunks) if i not in manifest.chunks]
    manifest.status = RUNNING if remaining else COMPLETE
    manifest.save(spec.lake_root)

    saver = ThrottledSave(manifest, spec.lake_root)

    def record(chunk: ChunkRecord) -> None:
        manifest.record(chunk)
        saver.save_if_due()
        on_chunk(chunk)

    try:
        if spec.sampler == ADAPTIVE_SAMPLER:
            run_rounds(spec, engine, manifest, record)
        else:
            engine.run(spec, remaining, record)
    except BaseException as exc:
        manifest.status = INTERRUPTED if isinstance(exc, KeyboardInterrupt) else FAILED
        manifest.save(spec.lake_root)
        raise
    manifest.status = COMPLETE
    manifest.save(spec.lake_root)
    return manifest


class ThrottledSave:
    """Saves a manifest when the driver has spent at most ``MAX_DRIVER_SHARE`` of its time saving.
    A save rewrites every record (6 ms for 200 chunks, 42 ms for 10^3, measured), so saving after
    every chunk of a long scan would take the driver a core that a 2-core machine's workers need;
    a short manifest is still saved after (nearly) every chunk. A chunk recorded but not saved yet
    when the driver dies is simply done again on resume."""

    MAX_DRIVER_SHARE = 0.05

    def __init__(self, manifest: Manifest, root: str):
        self.manifest, self.root = manifest, root
        self.due = time.monotonic()

    def save_if_due(self) -> None:
        started = time.monotonic()
        if started < self.due:
            return
        self.manifest.save(self.root)
        self.due = started + (time.monotonic() - started) / self.MAX_DRIVER_SHARE
