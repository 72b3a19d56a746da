"""Files that appear complete or not at all: on an object store one PUT (atomic by itself);
on a local disk a temporary sibling, flushed to disk, then renamed over the target."""
from __future__ import annotations

import hashlib
import os
import threading

from lake.storage import LakePath, ObjectPath

TEMP_SUFFIX = ".tmp"
HASH_BLOCK_BYTES = 1 << 20


def atomic_write(path: LakePath, data) -> None:
    """Make ``path`` hold ``data`` (bytes or a pyarrow Buffer); a reader sees the old content or the new, never a part."""
    if isinstance(path, ObjectPath):
        path.write_bytes(data)
        return
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def atomic_write_sha256(path: LakePath, data) -> str:
    """``atomic_write`` and the sha256 of ``data``, hashed in a second thread while this one waits for
    the disk (hashlib and the write release the GIL), so the checksum costs no extra wall time
    up to the write's own."""
    digest: list[str] = []
    hasher = threading.Thread(target=lambda: digest.append(hashlib.sha256(data).hexdigest()))
    hasher.start()
    try:
        atomic_write(path, data)
    finally:
        hasher.join()
    return digest[0]


def sha256_of(path: LakePath) -> str:
    digest = hashlib.sha256()
    opened = path.fs.open_input_stream(path.key) if isinstance(path, ObjectPath) else open(path, "rb")
    with opened as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
