"""Files that appear complete or not at all: on an object store one PUT (atomic by itself);
on a local disk a temporary sibling, flushed to disk, then renamed over the target."""
from __future__ import annotations

import hashlib
import os

from lake.storage import LakePath, ObjectPath

TEMP_SUFFIX = ".tmp"
HASH_BLOCK_BYTES = 1 << 20


def atomic_write(path: LakePath, data: bytes) -> None:
    """Make ``path`` hold ``data``; a reader sees the old content or the new, never a part."""
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


def sha256_of(path: LakePath) -> str:
    digest = hashlib.sha256()
    opened = path.fs.open_input_stream(path.key) if isinstance(path, ObjectPath) else open(path, "rb")
    with opened as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
