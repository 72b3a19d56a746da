"""The CLI teaches (--help with examples) and mirrors the library: validate, scan, sql."""
from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from conftest import REPO, config_doc, run_cli
from dsscan.cli import COMMANDS
from dsscan.config import load_config

OWN_COMMANDS = ("validate", "scan", "sql")


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        run_cli(*argv, "--help")
    assert done.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_command(capsys):
    text = help_text(capsys)
    assert all(name in text for name in COMMANDS)


@pytest.mark.parametrize("command", OWN_COMMANDS)
def test_command_help_teaches_with_examples(command, capsys):
    text = help_text(capsys, command)
    assert "examples:" in text and f"dsscan {command} " in text


def test_validate_prints_a_resolved_config_that_reads_back(write_config, tmp_path, capsys):
    path = write_config(config_doc())
    assert run_cli("validate", path, "--lake", tmp_path) == 0
    printed = capsys.readouterr().out
    assert "is valid: 600 points in 3 chunks" in printed
    assert load_config(write_config(printed)) == load_config(path, lake_root=str(tmp_path))
    assert not any(tmp_path.glob("scan=*"))


def test_validate_the_shipped_demo(capsys):
    assert run_cli("validate", REPO / "configs" / "demo.toml") == 0
    assert 'sampler = "uniform"' in capsys.readouterr().out


def test_sql_formats(small_lake, capsys):
    query = "select scan, count(*) as n from points group by scan order by scan"
    assert run_cli("sql", query, "--lake", small_lake, "--format", "csv") == 0
    as_csv = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert run_cli("sql", query, "--lake", small_lake, "--format", "json") == 0
    as_json = json.loads(capsys.readouterr().out)
    assert [(r["scan"], int(r["n"])) for r in as_csv] == [(r["scan"], r["n"]) for r in as_json]
    assert run_cli("sql", query, "--lake", small_lake) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["scan", "n"] and len(table) == 1 + len(as_json) + 1
    assert table[-1] == f"({len(as_json)} rows)"


def test_sql_reads_the_query_from_stdin(small_lake, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("select count(*) as n from scans"))
    assert run_cli("sql", "-", "--lake", small_lake, "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 2}]


def test_sql_empty_result_says_so(small_lake, capsys):
    assert run_cli("sql", "select scan from scans where false", "--lake", small_lake) == 0
    assert capsys.readouterr().out.splitlines() == ["scan", "(0 rows)"]


@pytest.mark.parametrize(
    "query, message",
    [("select nope from points", "nope"), ("delete from scans", "read-only"), ("selec 1", "cannot parse")],
)
def test_sql_errors_are_one_line(query, message, small_lake, capsys):
    assert run_cli("sql", query, "--lake", small_lake) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("dsscan: error:") and message in error


def test_scan_with_an_unknown_engine_is_refused_by_argparse(write_config, capsys):
    with pytest.raises(SystemExit) as refused:
        run_cli("scan", write_config(config_doc()), "--engine", "nope")
    assert refused.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err
