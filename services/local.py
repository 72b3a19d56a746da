"""The local engine: every chunk in this process, one after another (tests, debugging, small scans)."""
from __future__ import annotations

from typing import Callable, Iterable

from dsscan.config import ScanSpec
from lake.manifest import ChunkRecord
from services.engine import process_chunk


class LocalEngine:
    name = "local"

    def check_reachable(self) -> None:
        """Nothing to reach: chunks run in this process."""

    def run(self, spec: ScanSpec, indices: Iterable[int], on_done: Callable[[ChunkRecord], None]) -> None:
        for index in indices:
            on_done(process_chunk(spec, index))
