"""`dsscan sql` streams: bounded tables with exact integers, files written as they stream, limits
that stop a query with one line, Ctrl-C and a closed pipe handled, memory bounded on a big lake."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from conftest import config_doc, run_cli
from lakes import replicated_scan, run_measuring_peak_rss
from processes import DSSCAN

SLOW_QUERY = "select sum(hash(range)) from range(1000000000000)"  # 10^12 rows: runs for hours unless stopped


def wait_until_loaded(pid: int, library: str, deadline_s: float = 60) -> None:
    """Until process ``pid`` has mapped ``library`` (then it is past its imports), and one second more."""
    deadline = time.monotonic() + deadline_s
    while library not in pathlib.Path(f"/proc/{pid}/maps").read_text():
        assert time.monotonic() < deadline, f"{library} never loaded"
        time.sleep(0.1)
    time.sleep(1)


def lines_of(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_table_shows_integers_exactly_and_floats_to_four_digits(small_lake, capsys):
    query = ("select count(*) as n, sum((not allowed)::int) as rejected, 0.0000163512::double as br, "
             "123456789::hugeint as big from points")
    assert run_cli("sql", query, "--lake", small_lake, "--format", "json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert run_cli("sql", query, "--lake", small_lake) == 0
    header, values, total = lines_of(capsys)
    assert header.split() == ["n", "rejected", "br", "big"]
    assert values.split() == [str(row["n"]), str(row["rejected"]), "1.635e-05", "123456789"]
    assert total == "(1 row)"


def test_table_shows_at_most_max_rows_and_counts_all(small_lake, capsys):
    assert run_cli("sql", "select count(*) as n from points", "--lake", small_lake, "--format", "json") == 0
    n = json.loads(capsys.readouterr().out)[0]["n"]
    assert run_cli("sql", "select point_id from points", "--lake", small_lake, "--max-rows", "5") == 0
    out = lines_of(capsys)
    assert len(out) == 1 + 5 + 1
    assert out[-1] == f"({n:,} rows, the first 5 shown (--max-rows N for more, --output FILE for all))"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json"])
def test_output_file_holds_every_row(suffix, small_lake, tmp_path, capsys):
    query = "select scan, point_id, BR_Bp_Kpnunu, allowed from points"
    assert run_cli("sql", query, "--lake", small_lake, "--format", "csv") == 0
    expected = pcsv.read_csv(pa.py_buffer(capsys.readouterr().out.encode()))
    out = tmp_path / f"result{suffix}"
    assert run_cli("sql", query, "--lake", small_lake, "--output", out) == 0
    assert capsys.readouterr().err.strip() == f"wrote {expected.num_rows:,} rows to {out}"
    if suffix == ".parquet":
        got = pq.read_table(out).to_pylist()
    elif suffix == ".csv":
        got = pcsv.read_csv(out).to_pylist()
    else:
        got = json.loads(out.read_text())
    key = lambda r: (r["scan"], r["point_id"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected.to_pylist(), key=key)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no .partial left behind


def test_output_of_an_unknown_kind_is_refused(small_lake, tmp_path, capsys):
    assert run_cli("sql", "select 1", "--lake", small_lake, "--output", tmp_path / "x.xlsx") == 2
    assert capsys.readouterr().err.strip() == (
        f"dsscan: error: --output {str(tmp_path / 'x.xlsx')!r}: expected a file name ending in .parquet, .csv, .json")


def test_a_query_over_the_memory_limit_stops_with_one_line(small_lake, capsys):
    query = "select range % 5000000 as k, count(*) from range(20000000) group by k"
    assert run_cli("sql", query, "--lake", small_lake, "--memory-limit", "20MB") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dsscan: error: the query needs more memory than --memory-limit 20MB") and "\n" not in err


def test_a_query_over_the_timeout_is_stopped_with_one_line(small_lake, capsys):
    started = time.monotonic()
    assert run_cli("sql", SLOW_QUERY, "--lake", small_lake, "--timeout", "0.5") == 2
    assert time.monotonic() - started < 60  # stopped, not run to its end (which takes hours)
    assert capsys.readouterr().err.strip() == (
        "dsscan: error: the query ran longer than --timeout 0.5 s and was stopped; narrow it or raise --timeout")


def test_a_memory_limit_that_is_no_size_is_refused(small_lake, capsys):
    with pytest.raises(SystemExit) as stop:
        run_cli("sql", "select 1", "--lake", small_lake, "--memory-limit", "lots")
    assert stop.value.code == 2
    assert "expected a size such as 2GB or 512MiB, got 'lots'" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_stops_a_running_query_at_once(small_lake):
    process = subprocess.Popen([*DSSCAN, "sql", SLOW_QUERY, "--lake", str(small_lake), "--timeout", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_loaded(process.pid, "duckdb")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and err == "dsscan: interrupted\n"


@pytest.mark.slow
@pytest.mark.parametrize("argv", [
    ["sql", "select * from points"], ["sql", "select * from points", "--format", "csv"],
    ["sql", "select * from points", "--format", "json"], ["lake", "info", "small"],
])
def test_a_closed_pipe_ends_quietly(argv, small_lake):
    """``dsscan ... | head -1``: the reader leaves after one line; dsscan ends with 0 and no traceback."""
    shell = subprocess.run(
        f"{' '.join(DSSCAN)} {' '.join(repr(a) for a in argv)} --lake {small_lake} | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert (shell.returncode, shell.stderr) == (0, "")
    assert len(shell.stdout.splitlines()) == 1


@pytest.mark.slow
def test_point_json_into_a_closed_pipe_ends_quietly():
    point = "kappa_TeV=0.42 eta_d=0.56 eta_u=0.002 eta_c=0.002 eta_t=0.002 g_D=0.29 U_mu4=4.5e-3 m_S_MeV=133 m_nu4_MeV=416"
    shell = subprocess.run(f"{' '.join(DSSCAN)} point {point} --json | head -1; exit ${{PIPESTATUS[0]}}",
                           shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=300)
    assert (shell.returncode, shell.stderr, shell.stdout) == (0, "", "{\n")


def one_chunk_lake(root: pathlib.Path, write_config, points: int) -> pathlib.Path:
    """A real scan ``big`` of one chunk of ``points`` points, every one stored, into ``root``."""
    config = write_config(config_doc(scan={"name": "big", "points": points, "chunk_size": points}))
    assert run_cli("scan", config, "--lake", root, "--engine", "local", "--no-progress") == 0
    return root


@pytest.mark.slow
def test_select_star_into_a_file_holds_far_less_than_the_result(write_config, tmp_path):
    """1.5 10^6 rows (~0.6 GiB as Arrow): the whole process's peak RSS (Python, DuckDB, pyarrow and
    the batches in flight) stays below the result's size, which a result held whole would exceed."""
    source = one_chunk_lake(tmp_path / "one", write_config, points=5000)
    root = tmp_path / "big"
    rows = replicated_scan(source, "big", root, copies=300)
    result_bytes = pq.read_table(next((root / "scan=big").iterdir())).nbytes * 300
    out = tmp_path / "all.parquet"
    status, peak_MiB = run_measuring_peak_rss(
        [*DSSCAN, "sql", "select * from points", "--lake", str(root), "--output", str(out)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert status == 0 and pq.ParquetFile(out).metadata.num_rows == rows
    print(f"peak RSS {peak_MiB:.0f} MiB for a {result_bytes / 2**20:.0f} MiB result of {rows} rows")
    assert peak_MiB * 2**20 < result_bytes


def test_a_spill_directory_lets_a_query_past_the_memory_limit(small_lake, tmp_path, capsys):
    query = "select count(*) as groups from (select range % 5000000 as k, count(*) from range(20000000) group by k)"
    assert run_cli("sql", query, "--lake", small_lake, "--memory-limit", "60MB") == 2
    assert "nothing spills to disk without --spill-dir" in capsys.readouterr().err
    assert run_cli("sql", query, "--lake", small_lake, "--memory-limit", "60MB", "--spill-dir", tmp_path) == 0
    assert lines_of(capsys)[1].split() == ["5000000"]
