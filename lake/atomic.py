"""Files that appear complete or not at all: write a temporary sibling, flush it, rename it."""
from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Callable

TEMP_SUFFIX = ".tmp"
HASH_BLOCK_BYTES = 1 << 20


def atomic_write(path: pathlib.Path, write: Callable[[pathlib.Path], None]) -> None:
    """Call ``write(temp_path)`` and move the result to ``path`` in one rename."""
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        write(temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
