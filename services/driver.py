"""Run a scan: claim its folder in the lake (or take up a stopped one), hand the chunks its manifest
does not record yet to an engine, and record each chunk in the manifest once its file is complete.

Exactly once: a chunk counts only when the saved manifest records it, and the manifest records it
only after the engine reports its file complete. A resumed scan redoes every unrecorded chunk; a file
left by a chunk that was in flight is overwritten by the same bytes, since chunk i depends on
(seed, i) alone. The driver holds the scan's lease (``lake.lease``) from before it reads or
writes the manifest until it is done, so no other process changes the scan meanwhile. For sampler = "adaptive" a chunk also
depends on its round's proposal, which the manifest records (``services.rounds``).
"""
from __future__ import annotations

import errno
import time
from typing import Callable

from dsscan.config import ADAPTIVE_SAMPLER, ScanSpec
from dsscan.interrupt import raise_if_stopped
from lake.lease import Lease, scan_lease
from lake.layout import manifest_path, scan_dir
from lake.maintenance import file_problems, read_manifest, recorded_files
from lake.manifest import COMPLETE, FAILED, INTERRUPTED, RUNNING, ChunkRecord, Manifest
from services.engine import Engine, provenance
from services.rounds import run_rounds

CHUNK_SUFFIX = ".parquet"
# What a local lake that stopped taking writes raises (full, over quota, read-only, gone or in the way).
LAKE_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM,
                     errno.EISDIR, errno.ENOTDIR, errno.ENOENT}


class LakeWriteError(ValueError):
    """The lake stopped taking writes (disk full, read-only) while a scan ran: one line, no traceback."""


class LeaseLostError(ValueError):
    """Another process took over the lease of the scan this driver is writing."""


def ensure_new_scan(spec: ScanSpec) -> None:
    """Refuse a scan whose name the lake already holds, before anything is written. A folder left
    without a manifest by a start that was cut short (a crash, a full disk) is reused when it holds
    no chunk file; one that holds chunk files is refused with the command that removes it."""
    folder = scan_dir(spec.lake_root, spec.name)
    if manifest_path(spec.lake_root, spec.name).exists():
        raise ValueError(
            f"scan.name: the lake {spec.lake_root!r} already holds a scan named {spec.name!r} ({folder}); "
            "choose another scan.name or --lake, or continue it with --resume"
        )
    if folder.exists() and any(p.name.endswith(CHUNK_SUFFIX) for p in folder.iterdir()):
        raise ValueError(
            f"scan.name: {folder} holds chunk files but no manifest (incomplete); "
            f"remove it with 'dsscan lake rm {spec.name} --yes --lake {spec.lake_root}', or choose another scan.name"
        )


def _differing_keys(recorded: dict, wanted: dict) -> list[str]:
    """``table.key`` for every entry in which two configs (as ``ScanSpec.scan_config``) differ."""
    keys = []
    for table in sorted(set(recorded) | set(wanted)):
        old, new = recorded.get(table, {}), wanted.get(table, {})
        keys += [f"{table}.{key}" for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    return keys


def saved_chunks(spec: ScanSpec) -> int:
    """The chunks the saved manifest of ``spec`` records, which a resume continues from: a caller's
    own count (a progress bar's) misses one that Ctrl-C or SIGTERM interrupted between its recording
    and the caller's update. 0 before the scan's first save (stopped while it started)."""
    path = manifest_path(spec.lake_root, spec.name)
    return len(Manifest.load(path).chunks) if path.exists() else 0


def stopped_scan(spec: ScanSpec) -> Manifest:
    """The manifest of the scan ``spec`` resumes; refuses one started with another config or other code."""
    path = manifest_path(spec.lake_root, spec.name)
    if not path.exists():
        raise ValueError(
            f"--resume: the lake {spec.lake_root!r} holds no scan named {spec.name!r}; run without --resume to start it"
        )
    manifest = read_manifest(path)  # refuses a linked folder or a manifest naming another scan
    recorded_files(manifest)  # refuses an entry naming anything but this scan's own chunk files
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


def damaged_chunks(spec: ScanSpec, manifest: Manifest) -> list[int]:
    """The recorded chunks whose file is missing, corrupted (sha256) or unreadable."""
    files = {p.file for p in file_problems(spec.lake_root, manifest)}
    return sorted(i for i, record in manifest.chunks.items() if record.file in files)


def run_scan(
    spec: ScanSpec, engine: Engine, on_chunk: Callable[[ChunkRecord], None] = lambda record: None,
    resume: bool = False, repair: bool = False, command: str | None = None,
) -> Manifest:
    """Evaluate every chunk of ``spec`` that its manifest does not record yet (all of them for a new
    scan) with ``engine``; the manifest records each finished chunk. ``repair`` (with ``resume``)
    first forgets the chunks whose files are missing or corrupted, so they are computed again.
    Everything that can be checked is checked before the lake is touched (the config when ``spec``
    was made, the cluster here); the scan's lease is held throughout, shown to others as
    ``command``. On Ctrl-C the manifest is left ``interrupted``, on any other error ``failed``;
    both are resumable."""
    engine.check_reachable()
    with scan_lease(spec.lake_root, spec.name, command) as lease:
        if resume:
            manifest = stopped_scan(spec)
            for index in damaged_chunks(spec, manifest) if repair else ():
                del manifest.chunks[index]
        else:
            ensure_new_scan(spec)
            manifest = Manifest(scan=spec.name, config=spec.scan_config(), provenance=provenance(spec),
                                chunks_planned=spec.n_chunks)
        return _run_recording(spec, engine, manifest, on_chunk, lease)


def _run_recording(
    spec: ScanSpec, engine: Engine, manifest: Manifest, on_chunk: Callable[[ChunkRecord], None], lease: Lease
) -> Manifest:
    remaining = [i for i in range(spec.n_chunks) if i not in manifest.chunks]
    manifest.status = RUNNING if remaining else COMPLETE
    manifest.environment["engine"] = engine.name  # the engine of the latest run
    try:
        manifest.save(spec.lake_root)
    except OSError as exc:
        raise ValueError(f"cannot write the manifest of scan {spec.name!r} ({exc}); make room (or make the "
                         "lake writable) and run the same command again") from None
    started = time.monotonic()
    saver = ThrottledSave(manifest, spec.lake_root)

    def record(chunk: ChunkRecord) -> None:
        if lease.lost:
            raise LeaseLostError(f"scan {spec.name!r}: another process took over its lease; this driver stops")
        manifest.record(chunk)
        saver.save_if_due()
        on_chunk(chunk)
        raise_if_stopped()  # a SIGTERM whose KeyboardInterrupt a finalizer swallowed

    try:
        if spec.sampler == ADAPTIVE_SAMPLER:
            run_rounds(spec, engine, manifest, record)
        else:
            engine.run(spec, remaining, record)
        manifest.status = COMPLETE
        _add_wall_seconds(manifest, started)
        manifest.save(spec.lake_root)
    except BaseException as exc:
        if isinstance(exc, LeaseLostError):
            raise
        manifest.status = INTERRUPTED if isinstance(exc, KeyboardInterrupt) else FAILED
        _add_wall_seconds(manifest, started)
        try:
            manifest.save(spec.lake_root)
            kept = f"the manifest says {manifest.status}"
        except OSError:
            kept = "the manifest could not be updated either; it still says running"
        if isinstance(exc, OSError) and exc.errno in LAKE_WRITE_ERRNOS:
            raise LakeWriteError(f"writing to the lake {spec.lake_root!r} failed ({exc}); {kept}") from None
        raise
    return manifest


def _add_wall_seconds(manifest: Manifest, started: float) -> None:
    """The wall-clock time of every run of the scan so far (kept with the run's environment), for
    ``dsscan status`` to give the same wall-clock points/s as the end of a scan."""
    manifest.environment["wall_seconds"] = manifest.environment.get("wall_seconds", 0.0) + time.monotonic() - started


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
