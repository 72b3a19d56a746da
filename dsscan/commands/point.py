"""``dsscan point``: one parameter point, every observable with its unit, and every constraint's verdict.

    dsscan point kappa_TeV=0.42 eta_d=0.56 eta_u=0.002 eta_c=0.002 eta_t=0.002 \\
                 g_D=0.29 U_mu4=4.5e-3 m_S_MeV=133 m_nu4_MeV=416 [--constraints SET] [--json]

The numbers come from ``dsscan.evaluate``, so they are the ones a scan stores.
"""
from __future__ import annotations

import argparse
import difflib
import functools
import json
import math
from typing import Any, Mapping

import dsscan
from dsscan.constraints import Constraint, ConstraintSet, load_constraint_set, shipped_constraint_sets
from dsscan.evaluate import evaluate
from dsscan.inputs import load_inputs
from dsscan.parameters import PARAMETER_NAMES, PARAMETERS

PASS, FAIL, NOT_COMPUTED = "PASS", "FAIL", "n/a (not computed)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "point",
        help="evaluate one parameter point: observables with units, constraints, verdict",
        description=(
            "Evaluate one parameter point and print every observable with its unit, then every "
            "constraint of the chosen set with the value, the bound and PASS/FAIL, then the verdict."
        ),
        epilog="example: dsscan point kappa_TeV=0.42 eta_d=0.56 eta_u=0.002 eta_c=0.002 eta_t=0.002 "
        "g_D=0.29 U_mu4=4.5e-3 m_S_MeV=133 m_nu4_MeV=416",
    )
    parser.add_argument(
        "assignments", nargs="+", metavar="NAME=VALUE",
        help=f"all nine parameters: {', '.join(PARAMETER_NAMES)} (kappa in TeV^-1, masses in MeV)",
    )
    add_constraints_option(parser, default="datta2024")
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON object keyed by the canonical column names, with units and versions",
    )
    parser.set_defaults(func=run)


def add_constraints_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    """The ``--constraints SET`` option shared by the commands that judge points."""
    parser.add_argument(
        "--constraints", default=default, metavar="SET",
        help=f"a shipped constraint set ({', '.join(shipped_constraint_sets())}) or the path of a "
        f".toml copy (default: {default or 'each paper its own'})",
    )


@functools.cache
def observables() -> dict[str, tuple[str, str]]:
    """name -> (unit, description) of every parameter and observable (``dsscan.schema`` imports pyarrow,
    so only a command that prints a point loads it)."""
    from dsscan.schema import OBSERVABLES

    return {p.name: (p.unit, p.description) for p in PARAMETERS} | OBSERVABLES


def parse_assignments(items: list[str]) -> dict[str, float]:
    """``["kappa_TeV=0.42", ...]`` -> the nine parameters; every error names the offending key."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        if name not in PARAMETER_NAMES:
            near = difflib.get_close_matches(name, PARAMETER_NAMES, n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ValueError(f"unknown parameter {name!r}; {hint}the parameters are {', '.join(PARAMETER_NAMES)}")
        if name in values:
            raise ValueError(f"parameter {name!r} is given twice")
        try:
            values[name] = float(text)
        except ValueError:
            raise ValueError(f"parameter {name!r}: expected a number, got {text!r}") from None
    missing = [n for n in PARAMETER_NAMES if n not in values]
    if missing:
        raise ValueError(f"missing parameters {', '.join(missing)} (all nine are required)")
    return {n: values[n] for n in PARAMETER_NAMES}


def applies(c: Constraint, row: Mapping[str, Any]) -> bool:
    """Whether the constraint's ``applies_above`` condition holds at this point."""
    return all(row[p] > threshold for p, threshold in dict(c.applies_above).items())


def constraint_status(c: Constraint, row: Mapping[str, Any]) -> str:
    """PASS, FAIL, ``n/a (not computed)`` for a NaN observable, or ``n/a (applies only for ...)``."""
    if not applies(c, row):
        return "n/a (applies only for " + " and ".join(f"{p} > {t:g}" for p, t in dict(c.applies_above).items()) + ")"
    if math.isnan(row[c.observable]):
        return NOT_COMPUTED
    return PASS if row[f"pass_{c.name}"] else FAIL


def format_number(x: float, digits: int = 4) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}g}"


def verdict(cset: ConstraintSet, row: Mapping[str, Any]) -> str:
    """One line: allowed, or which constraints failed and which could not be computed."""
    if row["allowed"]:
        return f"allowed by {cset.name}"
    statuses = {c.name: constraint_status(c, row) for c in cset.constraints}
    failed = [n for n, s in statuses.items() if s == FAIL]
    uncomputed = [n for n, s in statuses.items() if s == NOT_COMPUTED]
    reasons = ([f"fails {', '.join(failed)}"] if failed else []) + (
        [f"not computed: {', '.join(uncomputed)}"] if uncomputed else []
    )
    return f"NOT allowed by {cset.name}: {'; '.join(reasons)}"


def versions(cset: ConstraintSet) -> dict[str, str]:
    """What a result depends on, so that it can be cited and reproduced."""
    inp = load_inputs()
    return {
        "dsscan": dsscan.__version__,
        "inputs": inp.version,
        "inputs_sha256": inp.sha256,
        "constraint_set": cset.name,
        "constraint_set_version": cset.version,
        "constraint_set_sha256": cset.sha256,
    }


def json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A table row with NaN (an observable not computed) as JSON null."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def format_point(row: Mapping[str, Any], cset: ConstraintSet) -> str:
    """The human-readable report: parameters, observables, constraint table, verdict."""
    v = versions(cset)
    lines = [
        f"dsscan {v['dsscan']}, inputs {v['inputs']}, constraint set {cset.name} v{cset.version} ({cset.source})",
        f"scenario: {row['scenario']}",
        "",
    ]
    described = observables()
    for title, names in (("Parameters", PARAMETER_NAMES), ("Observables", tuple(described)[len(PARAMETER_NAMES):])):
        lines.append(title)
        lines += [
            f"  {n:<20} {format_number(row[n], 6):>12}  {described[n][0]:<7} {described[n][1]}" for n in names
        ]
        lines.append("")
    lines.append(f"Constraints ({cset.name}): value = observable x scale")
    lines.append(f"  {'constraint':<16} {'value':>11}  {'bound':<48} status")
    for c in cset.constraints:
        value = format_number(row[c.observable] * c.scale)
        lines.append(f"  {c.name:<16} {value:>11}  {c.bound_text():<48} {constraint_status(c, row)}")
    lines += ["", f"verdict: {verdict(cset, row)}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    point = parse_assignments(args.assignments)
    cset = load_constraint_set(args.constraints)
    (row,) = evaluate({n: [x] for n, x in point.items()}, constraints=args.constraints).to_pylist()
    if args.json:
        units = {n: unit for n, (unit, _) in observables().items() if n in row}
        record = json_row(row) | {"units": units, "versions": versions(cset)}
        print(json.dumps(record, indent=2, allow_nan=False))
    else:
        print(format_point(row, cset))
    return 0
