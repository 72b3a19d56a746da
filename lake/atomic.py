"""Files that appear complete or not at all: on an object store one PUT (atomic by itself);
on a local disk a temporary sibling, flushed to disk, then renamed over the target."""
from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import queue
import threading
from typing import BinaryIO, Callable, Iterator

from lake.storage import LakePath, ObjectPath

TEMP_SUFFIX = ".tmp"
HASH_BLOCK_BYTES = 1 << 20
WRITEBACK_BYTES = 64 << 20  # written bytes between the early flushes of a streamed file
# pieces of a streamed file: pyarrow writes a page at a time (~8,000 writes for a chunk of 10^6 points),
# and each costs a call into Python; 1 MB pieces took ~5 % off that chunk, 4 MB ones fell out of cache
STREAM_BUFFER_BYTES = 1 << 20


def atomic_write(path: LakePath, data) -> None:
    """Make ``path`` hold ``data`` (bytes or a pyarrow Buffer); a reader sees the old content or the new, never a part."""
    if isinstance(path, ObjectPath):
        path.write_bytes(data)
        return
    with _replacing(path) as handle:
        handle.write(data)


@contextlib.contextmanager
def _replacing(path: pathlib.Path) -> Iterator[BinaryIO]:
    """An open temporary sibling of the local file ``path``: when the block ends without an error it
    is flushed to disk and renamed over ``path``; it is removed whatever happens."""
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


_flush_to_disk = getattr(os, "fdatasync", os.fsync)  # macOS and Windows have no fdatasync


class _HashingSink:
    """A binary file-like sink for ``pq.write_table``: each piece written goes to the temporary file
    at once and to a second thread, which hashes it (hashlib releases the GIL) and every
    ``WRITEBACK_BYTES`` asks the disk to take what is written so far (``fdatasync``), so that
    the hash and most of the flush run while this thread is still encoding. Whatever goes wrong in
    the second thread is raised by ``finish``: a file is never recorded with a partial hash."""

    def __init__(self, handle):
        self._handle = handle
        self._digest = hashlib.sha256()
        self._pieces: queue.SimpleQueue = queue.SimpleQueue()
        self._failure: list[BaseException] = []
        self._worker = threading.Thread(target=self._hash_and_flush, daemon=True)
        self._worker.start()
        self.closed = False

    def write(self, piece: bytes) -> int:
        if self.closed:
            raise ValueError("write to a finished stream")
        self._pieces.put(piece)
        return self._handle.write(piece)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        """Nothing: ``atomic_write_stream`` closes the temporary file."""

    def _hash_and_flush(self) -> None:
        unflushed = 0
        while (piece := self._pieces.get()) is not None:
            if self._failure:
                continue  # drained until finish(), which raises the failure
            try:
                self._digest.update(piece)
                unflushed += len(piece)
                if unflushed >= WRITEBACK_BYTES:
                    _flush_to_disk(self._handle.fileno())
                    unflushed = 0
            except BaseException as exc:
                self._failure.append(exc)

    def finish(self) -> str:
        """Wait for the hash, then raise what the second thread met; the sha256 of all that was written."""
        if not self.closed:
            self.closed = True
            self._pieces.put(None)
            self._worker.join()
        if self._failure:
            raise self._failure[0]
        return self._digest.hexdigest()


def _stream_to(handle, produce: Callable[[BinaryIO], None]) -> str:
    """``produce`` writing into the open file ``handle`` through a ``_HashingSink``, in pieces of
    ``STREAM_BUFFER_BYTES``; the sha256 of what it wrote. A failing ``produce`` stops the second
    thread and its own exception is the one raised."""
    import pyarrow as pa

    sink = _HashingSink(handle)
    try:
        buffered = pa.BufferedOutputStream(pa.PythonFile(sink, mode="w"), buffer_size=STREAM_BUFFER_BYTES)
        try:
            produce(buffered)
        except BaseException:
            with contextlib.suppress(Exception):  # the file is deleted: only the producer's error matters
                buffered.close()
            raise
        buffered.close()  # writes the last piece
    except BaseException:
        with contextlib.suppress(Exception):
            sink.finish()
        raise
    return sink.finish()


def atomic_write_stream(path: LakePath, produce: Callable[[BinaryIO], None]) -> str:
    """Make ``path`` hold what ``produce`` writes to the (pyarrow) file object it is given, as
    ``atomic_write`` does, and return its sha256. On a local disk the bytes stream to the temporary
    file as they are produced (pyarrow writing a file is faster than building the same file in
    memory), hashed and flushed in a second thread meanwhile (``_stream_to``); on an object store
    they are collected in memory for the one PUT."""
    if isinstance(path, ObjectPath):
        import pyarrow as pa  # here: lake.manifest, which the command line's parser loads, imports this module

        sink = pa.BufferOutputStream()
        produce(sink)
        data = sink.getvalue()
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()
    with _replacing(path) as handle:
        return _stream_to(handle, produce)


def sha256_of(path: LakePath) -> str:
    digest = hashlib.sha256()
    opened = path.fs.open_input_stream(path.key) if isinstance(path, ObjectPath) else open(path, "rb")
    with opened as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
