"""``dsscan benchmarks``: published numbers beside dsscan's, constraint status per point, JSON, data folder."""
from __future__ import annotations

import json
import shutil
from itertools import takewhile

import pytest

from dsscan.cli import main
from dsscan.commands.benchmarks import (
    DEPARTURES,
    PAPER_000,
    PAPER_001,
    TABLES,
    evaluate_points,
    json_report,
    load_points,
    shipped_data_dir,
)
from dsscan.constraints import load_constraint_set


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["benchmarks", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def report():
    """The JSON report, computed once."""
    return json_report([evaluate_points(load_points(table), None) for table in TABLES])


def test_every_published_number_has_its_ratio(report):
    paper000, paper001 = report["papers"]
    assert [p["bp"] for p in paper000["points"]] == ["1", "2", "3", "4", "5", "6"]
    assert [p["bp"] for p in paper001["points"]] == ["1", "2", "3", "4", "5", "6", "7"]
    for point in paper000["points"]:
        assert set(point["published"]) == set(PAPER_000.published)
        for column, observable in PAPER_000.published.items():
            assert point["ratio"][column] == point["row"][observable] / point["published"][column]
    assert all(p["published"] == {} and p["ratio"] == {} for p in paper001["points"])


def test_each_paper_is_judged_by_its_own_set_by_default(report):
    for paper, name in zip(report["papers"], ("datta2020", "datta2024")):
        assert paper["versions"]["constraint_set"] == name
        assert all(set(p["status"]) == set(load_constraint_set(name).names) for p in paper["points"])


def test_text_report_shows_ratios_convention_note_and_status_marks(capsys, report):
    code, out, _ = run_cli(capsys)
    assert code == 0
    assert "arXiv:2005.08920" in out and "arXiv:2310.15136" in out
    assert "physics.md section 7" in out and "CP projection" in out
    for point in report["papers"][0]["points"]:
        for column, ratio in point["ratio"].items():
            assert f"{ratio:.3f}" in out, (point["bp"], column)
    marks = {"PASS": "ok", "FAIL": "FAIL", "PASS within 10 % margin": "ok*"}
    lines = out.splitlines()
    for paper in report["papers"]:
        title = f"Constraint set {paper['versions']['constraint_set']}"
        heading = next(i for i, line in enumerate(lines) if line.startswith(title))
        rows = {line.split()[0]: line for line in takewhile(lambda line: line.startswith("  "), lines[heading + 1:])}
        for name in paper["points"][0]["status"]:
            expected = [marks.get(p["status"][name], "n/a") for p in paper["points"]]
            cells = rows[name].split()
            assert [c for c in cells if c in ("ok", "ok*", "FAIL", "n/a")] == expected, name


def test_scattering_ratios_with_the_recast_scale_for_every_point(capsys, report):
    """R, s R with s = 1.56 (physics.md section 9) and R_charm2 per point; n/a while not computed."""
    _, out, _ = run_cli(capsys)
    lines = out.splitlines()
    headings = [i for i, line in enumerate(lines) if line == "Scattering ratios (physics.md section 9)"]
    assert len(headings) == 2
    for heading, paper in zip(headings, report["papers"]):
        assert "s R (s = 1.56)" in lines[heading + 1]
        for line, point in zip(lines[heading + 2:], paper["points"]):
            bp, *cells = line.split()
            R, R_charm2 = point["row"]["R_miniboone"], point["row"]["R_charm2"]
            assert bp == point["bp"]
            expected = ["n/a" if x is None else x for x in (R, None if R is None else 1.56 * R, R_charm2)]
            assert [c if c == "n/a" else pytest.approx(float(c), rel=1e-3) for c in cells] == expected


def test_one_constraint_set_for_both_papers(capsys):
    _, raw, _ = run_cli(capsys, "--json", "--constraints", "datta2024")
    report = json.loads(raw)
    assert [p["versions"]["constraint_set"] for p in report["papers"]] == ["datta2024", "datta2024"]


def test_another_data_folder_is_read(capsys, tmp_path):
    for table in (PAPER_000, PAPER_001):
        shutil.copy(shipped_data_dir() / table.filename, tmp_path / table.filename)
    path = tmp_path / PAPER_001.filename
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith("7,")))
    _, raw, _ = run_cli(capsys, "--json", "--data-dir", str(tmp_path))
    assert [p["bp"] for p in json.loads(raw)["papers"][1]["points"]] == ["1", "2", "3", "4", "5", "6"]


def test_a_missing_data_folder_is_a_one_line_error(capsys, tmp_path):
    code, out, err = run_cli(capsys, "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and out == ""
    assert err.startswith("dsscan: error: ") and err.count("\n") == 1 and "benchmarks_2020.csv" in err


def test_each_missed_bound_is_printed_with_its_explanation(capsys, report):
    """Paper 001's BP7 misses B0 -> K*0 nu nu beyond the margin: the JSON and the text give the reason."""
    bp7 = next(p for p in report["papers"][1]["points"] if p["bp"] == "7")
    assert bp7["status"]["B0_Kst0nunu"] == "FAIL"
    assert bp7["departures"]["B0_Kst0nunu"] == DEPARTURES["001", "7", "B0_Kst0nunu"]
    _, out, _ = run_cli(capsys)
    section = out.split("Departures from the bounds, explained")[2]
    assert "BP7 B0_Kst0nunu: " + DEPARTURES["001", "7", "B0_Kst0nunu"].splitlines()[0] in section
    assert "no explanation recorded" not in out
