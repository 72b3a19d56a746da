"""A per-scan lease: at most one process at a time changes a scan (``scan``, ``scan --resume``,
``lake compact``, ``lake vacuum``, ``lake rm``); the others are refused with one line naming the
holder (host, pid, command, since).

The lease is ``scan=<name>/lease.json`` holding a ``Holder`` record.

- On a local disk (or a network file system with POSIX locks) the file is locked with ``flock``.
  The kernel drops the lock when its process dies, however it dies, so a stale lease (a dead
  process) is taken over without any judgement, and two processes can never both hold it.
- On an object store there are no locks and pyarrow's S3 filesystem offers no conditional PUT, so
  the lease is an object with an expiry, renewed by a thread every ``OBJECT_LEASE_SECONDS / 3``,
  and taken over once it expired or when its holder is a dead process on this host. Acquiring
  is: read (refuse a live lease), write ours, wait ``SETTLE_SECONDS``, read back (refuse if
  another writer's record replaced ours). The race window: two processes both hold the lease
  only if one of them stalls longer than ``SETTLE_SECONDS`` between reading "free" and writing
  its record, or if a holder cannot renew for ``OBJECT_LEASE_SECONDS`` (a network partition)
  and another takes over; a driver notices the loss at its next renewal (``Lease.lost``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pathlib
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

from lake.layout import scan_dir
from lake.storage import LakePath, ObjectPath

LEASE_NAME = "lease.json"
OBJECT_LEASE_SECONDS = 60.0  # an object-store lease not renewed for this long is free
SETTLE_SECONDS = 0.5  # wait between writing an object lease and reading it back
READ_ATTEMPTS, READ_PAUSE_SECONDS = 20, 0.05  # a local lease record being written is read again
LOCK_ATTEMPTS, LOCK_PAUSE_SECONDS = 10, 0.01  # a lock that ``current_holder`` peeks at is tried again


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: enough to find the process, and when an object-store lease runs out."""

    host: str
    pid: int
    command: str
    since: float  # Unix time
    token: str  # this holding, unique
    expires: float | None = None  # Unix time; object-store leases only

    @classmethod
    def of_this_process(cls, command: str) -> "Holder":
        return cls(socket.gethostname(), os.getpid(), command, time.time(), uuid.uuid4().hex)

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        return f"{self.command!r} (host {self.host}, pid {self.pid}, since {since})"

    def stale(self) -> bool:
        """Expired, or held by a process of this host that no longer exists."""
        if self.expires is not None and self.expires < time.time():
            return True
        return self.host == socket.gethostname() and not _process_exists(self.pid)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _decode(data: bytes) -> Holder | None:
    try:
        return Holder(**json.loads(data))
    except (ValueError, TypeError):
        return None


class LeaseHeldError(ValueError):
    """Another process holds the scan's lease."""

    def __init__(self, scan: str, holder: Holder | None):
        who = holder.describe() if holder else "another process (its lease record is unreadable)"
        super().__init__(f"scan {scan!r} is in use by {who}; wait until it ends, or stop it, and try again")


def this_command() -> str:
    """The command line of this process, as the lease shows it (``dsscan lake compact demo``)."""
    words = [pathlib.Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(words)


class Lease:
    """A held lease; ``lost`` turns true if an object-store lease was taken over by another process."""

    def __init__(self, holder: Holder):
        self.holder = holder
        self.lost = False
        self.renewing_stopped = threading.Event()

    def stop_renewing(self) -> None:
        """Before deleting the scan folder: a renewal must not write the lease object back."""
        self.renewing_stopped.set()


@contextlib.contextmanager
def scan_lease(root: str | LakePath, scan: str, command: str | None = None) -> Iterator[Lease]:
    """Hold the lease of ``scan`` (creating its folder if needed) for the ``with`` block, or raise
    ``LeaseHeldError`` naming the holder."""
    folder = scan_dir(root, scan)
    holder = Holder.of_this_process(command or this_command())
    hold = _hold_object if isinstance(folder, ObjectPath) else _hold_file
    with contextlib.ExitStack() as stack:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lease = stack.enter_context(hold(scan, folder / LEASE_NAME, holder))
        except OSError as exc:
            raise ValueError(f"cannot take the lease of scan {scan!r} ({folder / LEASE_NAME}): {exc}") from None
        yield lease


@contextlib.contextmanager
def _hold_file(scan: str, path: pathlib.Path, holder: Holder) -> Iterator[Lease]:
    while True:
        # Locked through a read-only descriptor: a lake whose disk is remounted read-only mid-scan
        # is not kept busy by it.
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        if not _lock_exclusive(fd):
            os.close(fd)
            raise LeaseHeldError(scan, _read_file_holder(path))
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break  # locked the file that is there, not one its last holder removed meanwhile
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        path.write_text(json.dumps(dataclasses.asdict(holder)))
        yield Lease(holder)
    finally:
        with contextlib.suppress(OSError):  # a lake that turned read-only keeps the file; the lock still goes
            path.unlink(missing_ok=True)  # before unlocking: a waiter then sees the file gone and starts anew
        os.close(fd)


def _lock_exclusive(fd: int) -> bool:
    """Lock ``fd``, or False if another process holds it. A ``current_holder`` call holds a shared
    lock for an instant, so a refusal is only believed after ``LOCK_ATTEMPTS`` tries."""
    for _ in range(LOCK_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(LOCK_PAUSE_SECONDS)
    return False


def current_holder(root: str | LakePath, scan: str) -> Holder | None:
    """Who holds the lease of ``scan`` now (None: nobody), without taking it."""
    path = scan_dir(root, scan) / LEASE_NAME
    if isinstance(path, ObjectPath):
        holder = _read_object_holder(path)
        return None if holder is None or holder.stale() else holder
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_file_holder(path)
    finally:
        os.close(fd)
    return None


def _read_file_holder(path: pathlib.Path) -> Holder | None:
    """The holder record of a locked lease file; its holder may be writing it just now."""
    for _ in range(READ_ATTEMPTS):
        try:
            holder = _decode(path.read_bytes())
        except FileNotFoundError:
            return None
        if holder:
            return holder
        time.sleep(READ_PAUSE_SECONDS)
    return None


def _read_object_holder(path: ObjectPath) -> Holder | None:
    try:
        return _decode(path.read_bytes())
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _hold_object(scan: str, path: ObjectPath, holder: Holder) -> Iterator[Lease]:
    current = _read_object_holder(path)
    if current is not None and not current.stale():
        raise LeaseHeldError(scan, current)
    holder = dataclasses.replace(holder, expires=time.time() + OBJECT_LEASE_SECONDS)
    path.write_bytes(json.dumps(dataclasses.asdict(holder)).encode())
    time.sleep(SETTLE_SECONDS)
    current = _read_object_holder(path)
    if current is None or current.token != holder.token:
        raise LeaseHeldError(scan, current)
    lease = Lease(holder)
    renewer = threading.Thread(target=_renew, args=(path, lease), daemon=True, name=f"lease-{scan}")
    renewer.start()
    try:
        yield lease
    finally:
        lease.stop_renewing()
        renewer.join()
        current = _read_object_holder(path)
        if current is not None and current.token == holder.token:
            path.unlink(missing_ok=True)


def _renew(path: ObjectPath, lease: Lease) -> None:
    """Push the expiry of an object-store lease forward while it is still ours."""
    while not lease.renewing_stopped.wait(OBJECT_LEASE_SECONDS / 3):
        try:
            current = _read_object_holder(path)
            if current is None or current.token != lease.holder.token:
                lease.lost = True
                return
            renewed = dataclasses.replace(lease.holder, expires=time.time() + OBJECT_LEASE_SECONDS)
            path.write_bytes(json.dumps(dataclasses.asdict(renewed)).encode())
        except OSError:  # the store is unreachable for now: try again at the next renewal
            continue
