"""``dsscan point``: observables with units, the constraint table, JSON output, one-line errors."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from importlib import resources

import pytest

from dsscan import __version__, evaluate
from dsscan.cli import main
from dsscan.constraints import load_constraint_set
from dsscan.inputs import load_inputs
from dsscan.parameters import PARAMETERS
from dsscan.schema import OBSERVABLES

# paper 000 BP1 (arXiv:2005.08920 Table I; universal eta_u)
BP1 = dict(kappa_TeV="0.42", eta_d="0.56", eta_u="0.002", eta_c="0.002", eta_t="0.002", g_D="0.29",
           U_mu4="4.5e-3", m_S_MeV="133", m_nu4_MeV="416")
ARGS = [f"{k}={v}" for k, v in BP1.items()]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["point", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def section(out: str, title: str) -> dict[str, str]:
    """The indented rows under a heading line starting with ``title``, keyed by their first word."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
    rows = {}
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        rows[line.split()[0]] = line
    return rows


def test_every_parameter_and_observable_is_printed_with_its_unit(capsys):
    code, out, _ = run_cli(capsys, *ARGS)
    assert code == 0
    for title, units in (
        ("Parameters", {p.name: p.unit for p in PARAMETERS}),
        ("Observables", {n: u for n, (u, _) in OBSERVABLES.items()}),
    ):
        rows = section(out, title)
        assert list(rows) == list(units)
        for name, unit in units.items():
            assert rows[name].split()[2] == unit, name
    assert float(section(out, "Parameters")["m_S_MeV"].split()[1]) == 133.0


def test_constraint_table_agrees_with_the_json_verdicts(capsys):
    """Each constraint row shows the bound and a status; the status matches pass_<name> of --json."""
    _, text, _ = run_cli(capsys, *ARGS)
    _, raw, _ = run_cli(capsys, *ARGS, "--json")
    record = json.loads(raw)
    rows = section(text, "Constraints")
    for c in load_constraint_set("datta2024").constraints:
        row = rows[c.name]
        assert c.bound_text() in row
        if c.applies_above and not all(record[p] > t for p, t in dict(c.applies_above).items()):
            assert row.endswith("n/a (applies only for kappa_TeV > 0)")
        elif record[c.observable] is None:
            assert row.endswith("n/a (not computed)")
        else:
            assert row.endswith("PASS" if record[f"pass_{c.name}"] else "FAIL"), row
    (verdict,) = [line for line in text.splitlines() if line.startswith("verdict: ")]
    if record["allowed"]:
        assert verdict == "verdict: allowed by datta2024"
    else:
        assert verdict.startswith("verdict: NOT allowed by datta2024: ")
        assert all(name in verdict for name, row in rows.items() if row.endswith(" FAIL"))


def test_g_minus_2_is_not_applicable_at_kappa_zero(capsys):
    args = [a for a in ARGS if not a.startswith("kappa_TeV=")] + ["kappa_TeV=0"]
    _, out, _ = run_cli(capsys, *args)
    assert section(out, "Constraints")["g_minus_2"].endswith("n/a (applies only for kappa_TeV > 0)")
    assert "scenario: kappa0" in out


def test_json_has_the_canonical_columns_units_and_versions(capsys):
    code, raw, _ = run_cli(capsys, *ARGS, "--json")
    assert code == 0
    record = json.loads(raw)
    (expected,) = evaluate({k: [float(v)] for k, v in BP1.items()}).to_pylist()
    assert set(record) == set(expected) | {"units", "versions"}
    for name, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert record[name] is None, name
        else:
            assert record[name] == value, name
    assert record["units"]["dM_Bs_NP_inv_ps"] == "ps^-1" and record["units"]["kappa_TeV"] == "TeV^-1"
    cset = load_constraint_set("datta2024")
    assert record["versions"] == {
        "dsscan": __version__, "inputs": load_inputs().version, "inputs_sha256": load_inputs().sha256,
        "constraint_set": "datta2024", "constraint_set_version": cset.version, "constraint_set_sha256": cset.sha256,
    }


def test_a_users_copy_of_a_constraint_set_is_used(capsys, tmp_path):
    """Tighten KOTO to 1e-12 in a copy: BP1's K_L -> pi0 nu nu (SM 3.4e-11 alone) must now fail."""
    shipped = load_constraint_set("datta2024")
    text = resources.files("dsscan").joinpath("data/constraints/datta2024.toml").read_text()
    text = text.replace("upper = 4.9e-9", "upper = 1e-12")
    path = tmp_path / "tight.toml"
    path.write_text(text)
    _, raw, _ = run_cli(capsys, *ARGS, "--json", "--constraints", str(path))
    record = json.loads(raw)
    assert record["pass_KL_pi0nunu"] is False
    assert record["versions"]["constraint_set_sha256"] != shipped.sha256
    _, raw, _ = run_cli(capsys, *ARGS, "--json", "--constraints", "datta2020")
    assert {k for k in json.loads(raw) if k.startswith("pass_")} == {
        f"pass_{n}" for n in load_constraint_set("datta2020").names
    }


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ([a for a in ARGS if not a.startswith("g_D=")], "g_D"),
        (ARGS + ["mass=3"], "'mass'"),
        (ARGS + ["eta_d=0.1"], "'eta_d'"),
        ([a if not a.startswith("U_mu4=") else "U_mu4=small" for a in ARGS], "'U_mu4'"),
        ([a if not a.startswith("eta_t=") else "eta_t" for a in ARGS], "'eta_t'"),
        ([a if not a.startswith("m_S_MeV=") else "m_S_MeV=500" for a in ARGS], "m_S_MeV"),
        ([a if not a.startswith("m_nu4_MeV=") else "m_nu4_MeV=100" for a in ARGS], "m_nu4_MeV"),
        ([a if not a.startswith("g_D=") else "g_D=nan" for a in ARGS], "g_D"),
        (ARGS + ["--constraints", "datta1999"], "datta1999"),
    ],
    ids=["missing", "unknown", "duplicate", "non-numeric", "no-equals", "m_S-outside", "m_nu4-below-m_S",
         "nan", "unknown-set"],
)
def test_user_errors_are_one_line_naming_the_key(capsys, argv, named):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("dsscan: error: ")
    assert named in err


def test_console_entry_point(tmp_path):
    def dsscan(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dsscan.cli", *argv], capture_output=True, text=True, cwd=tmp_path)

    ok = dsscan("point", *ARGS)
    assert ok.returncode == 0 and "verdict:" in ok.stdout
    bad = dsscan("point", *ARGS[:-1])
    assert bad.returncode == 2
    assert bad.stderr == "dsscan: error: missing parameters m_nu4_MeV (all nine are required)\n"


@pytest.mark.parametrize(("given", "meant"), [("kappa", "kappa_TeV"), ("m_S", "m_S_MeV"), ("Umu4", "U_mu4")])
def test_an_unknown_parameter_gets_the_nearest_name_suggested(capsys, given, meant):
    argv = [a if not a.startswith(meant + "=") else f"{given}=0.42" for a in ARGS]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and f"unknown parameter {given!r}; did you mean {meant!r}?" in err
