"""Where a lake lives: a local directory or an S3-compatible object store (``s3://bucket/prefix``).

Local roots are ``pathlib.Path``; object-store roots are ``ObjectPath``, which offers the few
``pathlib`` methods the lake uses (``/``, ``name``, ``exists``, ``mkdir``, ``iterdir``,
``read_bytes``, ``read_text``, ``unlink``) over a ``pyarrow.fs.S3FileSystem``. The endpoint and
region come from ``AWS_ENDPOINT_URL`` and ``AWS_DEFAULT_REGION``; pyarrow itself reads the
credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, or
``~/.aws``), so they never pass through dsscan.
"""
from __future__ import annotations

import functools
import os
import pathlib
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow.fs as pafs

S3_SCHEME = "s3://"
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
REGION_ENVS = ("AWS_DEFAULT_REGION", "AWS_REGION")


def is_object_store(root: object) -> bool:
    return str(root).startswith(S3_SCHEME)


@functools.cache
def s3_filesystem(endpoint: str | None, region: str | None) -> pafs.S3FileSystem:
    """An S3 filesystem for ``endpoint`` (``http://host:port``; None for AWS) and ``region``."""
    import pyarrow.fs as pafs

    options: dict = {"region": region} if region else {}
    if endpoint:
        parsed = urllib.parse.urlsplit(endpoint)
        options |= {"endpoint_override": parsed.netloc or parsed.path, "scheme": parsed.scheme or "https"}
    return pafs.S3FileSystem(**options)


def s3_from_environment() -> pafs.S3FileSystem:
    region = next((os.environ[name] for name in REGION_ENVS if os.environ.get(name)), None)
    return s3_filesystem(os.environ.get(ENDPOINT_ENV) or None, region)


def _file_type() -> type[pafs.FileType]:
    """pyarrow's FileType, imported on first use: a local lake's commands never load pyarrow's filesystems."""
    from pyarrow.fs import FileType

    return FileType


class ObjectPath:
    """An object key (``bucket/prefix/...``) on an object store, shown as ``s3://bucket/prefix/...``.

    A PUT is atomic, so objects are written directly; "directories" are key prefixes, made
    visible by an empty marker so that a claimed scan folder exists before its first chunk."""

    def __init__(self, key: str, fs: pafs.FileSystem):
        self.key = key.strip("/")
        self.fs = fs

    def __truediv__(self, part: str) -> "ObjectPath":
        return ObjectPath(f"{self.key}/{part}", self.fs)

    def __str__(self) -> str:
        return S3_SCHEME + self.key

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and other.key == self.key

    def __lt__(self, other: "ObjectPath") -> bool:
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> "ObjectPath":
        return ObjectPath(self.key.rsplit("/", 1)[0], self.fs)

    def exists(self) -> bool:
        return self.fs.get_file_info(self.key).type != _file_type().NotFound

    def is_file(self) -> bool:
        return self.fs.get_file_info(self.key).type == _file_type().File

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        if self.exists() and not exist_ok:
            raise FileExistsError(str(self))
        self.fs.create_dir(self.key, recursive=parents)

    def iterdir(self) -> list["ObjectPath"]:
        from pyarrow.fs import FileSelector

        infos = self.fs.get_file_info(FileSelector(self.key, allow_not_found=True))
        return [ObjectPath(info.path, self.fs) for info in infos]

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.key) as stream:
            return stream.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> None:
        with self.fs.open_output_stream(self.key) as stream:
            stream.write(data)

    def unlink(self, missing_ok: bool = False) -> None:
        if missing_ok and not self.exists():
            return
        self.fs.delete_file(self.key)


LakePath = pathlib.Path | ObjectPath


def lake_path(location: str | os.PathLike | ObjectPath) -> LakePath:
    """A root or file location as a local ``Path`` or, for ``s3://``, an ``ObjectPath``."""
    if isinstance(location, ObjectPath | pathlib.Path):
        return location
    if is_object_store(location):
        return ObjectPath(str(location)[len(S3_SCHEME):], s3_from_environment())
    return pathlib.Path(location).expanduser()


def arrow_location(path: LakePath) -> tuple[str, pafs.FileSystem]:
    """``path`` as pyarrow names it, and its filesystem (for datasets and Parquet readers)."""
    from pyarrow.fs import LocalFileSystem

    if isinstance(path, ObjectPath):
        return path.key, path.fs
    return str(pathlib.Path(path).resolve()), LocalFileSystem()


def remove_tree(path: LakePath) -> None:
    """Delete a folder (a local directory or every object under a prefix) and what it holds;
    a local symbolic link is removed itself, never the folder it points to."""
    if isinstance(path, pathlib.Path) and path.is_symlink():
        path.unlink()
        return
    location, fs = arrow_location(path)
    fs.delete_dir(location)


PROBE_NAME = ".dsscan-write-probe"


def check_object_store_root(root: str) -> str:
    """``root`` (``s3://bucket[/prefix]``) without a trailing slash, once a probe object was
    written under it and deleted again; otherwise a one-line ValueError saying what failed."""
    key = root[len(S3_SCHEME):].strip("/")
    bucket = key.split("/")[0]
    if not bucket:
        raise ValueError(f"expected s3://bucket or s3://bucket/prefix, got {root!r}")
    path = lake_path(S3_SCHEME + key)
    try:
        found = path.fs.get_file_info(bucket).type != _file_type().NotFound
        if found:
            probe = path / f"{PROBE_NAME}-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as exc:
        raise ValueError(f"cannot write to {str(path)!r}: {str(exc).splitlines()[0]}") from None
    if not found:
        raise ValueError(f"bucket {bucket!r} does not exist (lake root {str(path)!r}); create it first")
    return str(path)
