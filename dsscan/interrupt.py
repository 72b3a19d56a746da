"""SIGTERM handled as Ctrl-C: ``kill``, ``ray job stop`` and Kubernetes all stop a process with
SIGTERM, and a scan stopped that way must end as one stopped with Ctrl-C does (its manifest
``interrupted``, resumable, exit status 130), not with Python's default of dying on the spot.

Ray's ``ray.init`` installs its own SIGTERM handler (``sys.exit``), so an engine that calls it
installs this one again afterwards."""
from __future__ import annotations

import signal
import threading


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def sigterm_as_ctrl_c() -> None:
    """Make SIGTERM raise ``KeyboardInterrupt`` in the main thread (signal handlers can only be
    installed there; elsewhere this does nothing)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
