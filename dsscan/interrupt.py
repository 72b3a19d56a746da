"""SIGTERM handled as Ctrl-C: ``kill``, ``ray job stop`` and Kubernetes all stop a process with
SIGTERM, and a scan stopped that way must end as one stopped with Ctrl-C does (its manifest
``interrupted``, resumable, exit status 130), not with Python's default of dying on the spot.

Ray's ``ray.init`` installs its own SIGTERM handler (``sys.exit``), so an engine that calls it
installs this one again afterwards."""
from __future__ import annotations

import signal
import sys
import threading
from typing import Callable


_received: list[str] = []  # the stopping signal, once one has arrived


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    _received.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(f"signal {_received[0]}")


def raise_if_stopped() -> None:
    """Raise the ``KeyboardInterrupt`` of a SIGTERM that has arrived. Python ignores (prints) an
    exception raised while a finalizer runs, so a signal that lands in one, such as dask's
    ``Future.__del__``, would let the scan go on; the driver calls this for every chunk it records."""
    if _received:
        raise KeyboardInterrupt(f"signal {_received[0]}")


def sigterm_as_ctrl_c() -> None:
    """Make SIGTERM raise ``KeyboardInterrupt`` in the main thread (signal handlers can only be
    installed there; elsewhere this does nothing). Such an interrupt that a finalizer swallowed is
    not printed as an ignored exception: ``raise_if_stopped`` raises it again."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        if not getattr(sys.unraisablehook, "quiets_swallowed_interrupts", False):  # installed once
            sys.unraisablehook = _quiet_swallowed_interrupt(sys.unraisablehook)


def _quiet_swallowed_interrupt(previous: Callable) -> Callable:
    def quiet(unraisable) -> None:
        if not (_received and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous(unraisable)

    quiet.quiets_swallowed_interrupts = True
    return quiet
