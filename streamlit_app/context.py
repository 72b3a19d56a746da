"""What every view shares: the lake(s) the app was started with, the cached catalog, the chosen scans.

The app serves only the lakes named at start (``--lake ROOT`` after ``--``, repeatable, else
``$DSSCAN_LAKE``, else ``./lake``); there is no box to type another path. Query results are
cached per view with ``st.cache_data``, keyed on the lake root and a fingerprint of its manifests
(``lake.query.lake_state``), so a finished or resumed scan is picked up on the next rerun.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable

import duckdb
import pyarrow as pa
import streamlit as st

from dsscan.config import LAKE_DEFAULTS
from lake.catalog import open_catalog
from lake.query import ScanInfo, Selection, lake_state, scan_infos

LAKE_ENV = "DSSCAN_LAKE"
LAKE_ERRORS = (ValueError, OSError, KeyError, TypeError, AttributeError, duckdb.Error, pa.ArrowException)  # damage
SCENARIO_NAMES = {"kappa": "κ ≠ 0", "kappa0": "κ = 0"}


def lake_roots(argv: list[str] | None = None) -> list[str]:
    """``--lake`` options after ``--`` on the streamlit command line, else $DSSCAN_LAKE, else ./lake."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--lake", action="append")
    given, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return list(dict.fromkeys(given.lake or [os.environ.get(LAKE_ENV) or LAKE_DEFAULTS["root"]]))


@st.cache_resource(show_spinner=False, max_entries=8)
def _catalog(root: str, state: str) -> tuple[duckdb.DuckDBPyConnection, threading.Lock]:
    """One locked catalog per lake state, shared by the sessions; a lock serialises its queries."""
    return open_catalog(root), threading.Lock()


def run_query(root: str, state: str, function, *args):
    """``function(con, *args)`` on the lake's catalog, one query at a time."""
    con, lock = _catalog(root, state)
    with lock:
        return function(con, *args)


@dataclass(frozen=True)
class LakeView:
    """The lake a page shows and the scans chosen in the sidebar."""

    root: str
    state: str
    scans: tuple[ScanInfo, ...]  # every scan with rows
    chosen: tuple[ScanInfo, ...]

    @property
    def selection(self) -> Selection:
        return Selection(tuple(s.scan for s in self.chosen))

    @property
    def constraint_sets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.constraint_set for s in self.chosen))

    def query(self, function, *args):
        return run_query(self.root, self.state, function, *args)


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def stop_with(message: str, kind: str = "error") -> None:
    getattr(st, kind)(message)
    st.stop()


def lake_view() -> LakeView:
    """The sidebar's lake and scan choice; a page that cannot be drawn explains why and stops."""
    roots = lake_roots()
    root = roots[0] if len(roots) == 1 else st.sidebar.selectbox("Lake", roots, key="lake", bind="query-params")
    st.sidebar.caption(f"lake: `{root}`")
    try:
        state = lake_state(root)
        scans = tuple(run_query(root, state, scan_infos))
    except LAKE_ERRORS as exc:
        stop_with(f"cannot read the lake {root!r}: {first_line(exc)}")
    if not scans:
        stop_with(f"the lake {root!r} has scans but no stored rows yet; wait for a chunk to finish", "warning")
    names = [s.scan for s in scans]
    picked = st.sidebar.multiselect("Scans", names, default=names, key="scans", bind="query-params")
    if not picked:
        stop_with("choose at least one scan in the sidebar", "info")
    return LakeView(root, state, scans, tuple(s for s in scans if s.scan in picked))


def guarded(render: Callable[[], None]) -> Callable[[], None]:
    """A page that ends in one line, not a traceback, when the lake changes under it (a chunk file
    removed or damaged after the catalog was opened)."""
    @functools.wraps(render)
    def page() -> None:
        try:
            render()
        except LAKE_ERRORS as exc:
            st.error(f"cannot read the lake: {first_line(exc)}")

    return page


def missing_scenarios(view: LakeView) -> list[str]:
    """The scenarios (κ ≠ 0, κ = 0) none of the chosen scans covers."""
    covered = {sc for s in view.chosen for sc in s.scenarios}
    return [SCENARIO_NAMES[sc] for sc in SCENARIO_NAMES if sc not in covered]
