"""Security (issue 14), each case through the real CLI: nothing outside the lake is read, written or
deleted (tampered manifests, SCAN arguments that climb out, SQL that would write or read files),
a local Ray scan listens on 127.0.0.1 only, and configs, constraint sets and the Python API refuse
what would store values outside a range or NaN, with one line naming the file, key or scan."""
from __future__ import annotations

import ipaddress
import itertools
import json
import math
import pathlib
import shutil
import subprocess
import time
import uuid

import boto3
import numpy as np
import psutil
import pytest

from conftest import config_doc, run_cli, tree_digest
from dsscan import evaluate
from dsscan.config import load_config
from dsscan.parameters import PARAMETER_NAMES, domain_limits
from dsscan.schema import OBSERVABLES
from dsscan.plan import chunk_points
from lake.catalog import open_catalog, read_only_query
from lake.layout import MANIFEST_NAME, chunk_file_name, manifest_path, scan_dir
from lake.storage import lake_path
from processes import DSSCAN, descendants, end_processes_of, marked_environment

VICTIM_FILE = "../../victim/important.parquet"  # from <lake>/scan=small/ to <lake>/../victim/


def one_line_error(capsys, *argv) -> str:
    """Run the CLI, expect exit status 2 and a single 'dsscan: error:' line; that line."""
    capsys.readouterr()
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsscan: error: ") and err.count("\n") == 1, err
    return err


def left_out_warning(capsys, *argv) -> tuple[str, str]:
    """Run the CLI, expect exit status 0 and one 'dsscan: warning:' line saying a scan is left out
    of the query; the output and that line."""
    capsys.readouterr()
    assert run_cli(*argv) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("dsscan: warning: ") and captured.err.count("\n") == 1, captured.err
    assert "left out of the query" in captured.err
    return captured.out, captured.err


# ---------------------------------------------------------------------------------------------
# The lake: a manifest entry or a SCAN argument that points outside is never followed.


def plant_victim(root: str) -> tuple[bytes, object]:
    """Copy chunk 0 of scan 'small' outside the lake and record that copy as chunk 0 (same sha256
    and rows), as an attacker who can write one manifest would; the victim's bytes and path."""
    folder = scan_dir(root, "small")
    data = (folder / chunk_file_name(0)).read_bytes()
    victim = lake_path(str(root).rsplit("/", 1)[0]) / "victim" / "important.parquet"  # where VICTIM_FILE leads
    if isinstance(victim, pathlib.Path):
        victim.parent.mkdir()
    victim.write_bytes(data)
    doc = json.loads((folder / MANIFEST_NAME).read_text())
    doc["chunks"][0]["file"] = VICTIM_FILE
    (folder / MANIFEST_NAME).write_bytes(json.dumps(doc).encode())
    return data, victim


def attack_and_recover(root: str, capsys) -> None:
    data, victim = plant_victim(root)
    capsys.readouterr()
    assert run_cli("lake", "verify", "--lake", root) == 1
    out = capsys.readouterr().out
    assert f"tampering: scan=small/{MANIFEST_NAME}: chunk 0 records the file '{VICTIM_FILE}'" in out
    for argv in (("lake", "compact", "small"), ("lake", "vacuum", "small"), ("lake", "info", "small")):
        err = one_line_error(capsys, *argv, "--lake", root)
        assert f"scan=small/{MANIFEST_NAME}" in err and VICTIM_FILE in err
        assert victim.read_bytes() == data
    # sql contains the damage to its scan (as for any damaged manifest): the others stay queryable
    out, _ = left_out_warning(capsys, "sql", "select count(*) as n from chunks where scan = 'small'", "--lake", root, "--format", "json")
    assert json.loads(out) == [{"n": 0}]
    capsys.readouterr()
    assert run_cli("lake", "rm", "small", "--yes", "--lake", root) == 0  # the way back: the scan goes, the victim stays
    assert not (scan_dir(root, "small") / MANIFEST_NAME).exists()
    assert victim.read_bytes() == data


@pytest.fixture
def lake_copy(small_lake, tmp_path) -> str:
    root = tmp_path / "lake"
    shutil.copytree(small_lake, root)
    return str(root)


def test_tampered_entry_is_reported_and_never_read_or_deleted(lake_copy, capsys):
    attack_and_recover(lake_copy, capsys)


@pytest.mark.slow
def test_tampered_entry_on_s3_is_reported_and_never_read_or_deleted(s3_module_bucket, write_config, capsys):
    root = f"s3://{s3_module_bucket}/lake"
    config = write_config(config_doc(scan={"points": 300, "chunk_size": 100}))
    assert run_cli("scan", config, "--engine", "local", "--lake", root, "--no-progress") == 0
    attack_and_recover(root, capsys)
    for argv in (("lake", "rm", "f/../../victim", "--yes"), ("lake", "vacuum", "../victim", "--force")):
        assert "scan name" in one_line_error(capsys, *argv, "--lake", root)
    listed = boto3.client("s3").list_objects_v2(Bucket=s3_module_bucket, Prefix="victim/")
    assert [o["Key"] for o in listed["Contents"]] == ["victim/important.parquet"]


def test_symlinked_chunk_file_is_tampering(lake_copy, tmp_path, capsys):
    outside = tmp_path / "outside.parquet"
    chunk = scan_dir(lake_copy, "small") / chunk_file_name(1)
    shutil.copy(chunk, outside)
    chunk.unlink()
    chunk.symlink_to(outside)
    capsys.readouterr()
    assert run_cli("lake", "verify", "small", "--lake", lake_copy) == 1
    assert f"tampering: scan=small/{chunk_file_name(1)}: a symbolic link" in capsys.readouterr().out
    err = one_line_error(capsys, "sql", "select count(*) from points", "--lake", lake_copy)
    assert "symbolic link" in err and chunk_file_name(1) in err


def test_symlinked_scan_folder_is_neither_read_nor_cleaned_and_rm_removes_the_link_only(lake_copy, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(scan_dir(lake_copy, "sampled"), elsewhere)
    (elsewhere / "unrecorded.parquet").write_bytes(b"vacuum would delete me")
    scan_dir(lake_copy, "sampled").symlink_to(elsewhere, target_is_directory=True)
    before = tree_digest(elsewhere)
    for argv in (("lake", "vacuum", "sampled"), ("lake", "compact", "sampled"), ("status", "sampled")):
        assert "the scan folder is a symbolic link" in one_line_error(capsys, *argv, "--lake", lake_copy)
    out, warning = left_out_warning(capsys, "sql", "select distinct scan from points", "--lake", lake_copy)
    assert "sampled" not in out and "the scan folder is a symbolic link" in warning
    assert run_cli("lake", "rm", "sampled", "--yes", "--lake", lake_copy) == 0
    assert not scan_dir(lake_copy, "sampled").exists() and tree_digest(elsewhere) == before


CLIMBING_SCANS = ("f/../../victim2", "../victim2", "/tmp", "scan=x", ".hidden", "")


@pytest.mark.parametrize("scan", CLIMBING_SCANS)
def test_scan_argument_outside_the_name_rule_is_refused(lake_copy, tmp_path, scan, capsys):
    victim = tmp_path / "victim2"
    victim.mkdir()
    (victim / MANIFEST_NAME).write_text((scan_dir(lake_copy, "small") / MANIFEST_NAME).read_text())
    (victim / "keep.txt").write_text("keep me")
    before = tree_digest(victim)
    lake = ("--lake", lake_copy)
    for argv in (("lake", "rm", scan, "--yes"), ("lake", "verify", scan), ("lake", "compact", scan, "--force"),
                 ("lake", "vacuum", scan, "--force"), ("lake", "info", scan), ("status", scan)):
        err = one_line_error(capsys, *argv, *lake)
        assert f"scan name {scan!r}" in err
    assert tree_digest(victim) == before


def test_manifest_naming_another_scan_is_tampering(lake_copy, capsys):
    path = manifest_path(lake_copy, "sampled")
    doc = json.loads(path.read_text())
    doc["scan"] = "small"
    path.write_text(json.dumps(doc))
    small_before = tree_digest(scan_dir(lake_copy, "small"))
    err = one_line_error(capsys, "lake", "compact", "sampled", "--lake", lake_copy)
    assert "tampering" in err and str(path) in err
    assert tree_digest(scan_dir(lake_copy, "small")) == small_before
    capsys.readouterr()
    assert run_cli("lake", "rm", "sampled", "--yes", "--lake", lake_copy) == 0
    assert tree_digest(scan_dir(lake_copy, "small")) == small_before


# ---------------------------------------------------------------------------------------------
# SQL that cannot write, and reads nothing but the lake.

WRITES = (
    "EXPLAIN ANALYZE DROP TABLE scans",
    "explain /* a comment */ analyze insert into scans select * from scans",
    "EXPLAIN (ANALYZE) DELETE FROM chunks",
    "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
    "EXPLAIN ANALYZE COPY (select 42) TO '{cwd}/.tmp/x.csv'",
    "COPY (select 42) TO '{cwd}/.tmp/y.csv'",
    "EXPORT DATABASE '{cwd}/.tmp/db'",
    "ATTACH '{cwd}/.tmp/z.db'",
    "PRAGMA version",
    "CALL pragma_version()",
    "SET memory_limit = '100GB'",
    "select 1; drop table scans",
)
READS_OUTSIDE = (
    "select * from read_csv('{victim}')",
    "select * from read_text('{victim}')",
    "select * from glob('{cwd}/*')",
    "select * from read_text('{lake}/scan=small/manifest.json')",  # in the lake, but no recorded chunk file
    "select * from query_table('{victim}')",
)


@pytest.mark.parametrize("query", WRITES + READS_OUTSIDE)
def test_sql_writes_nothing_and_reads_only_the_lake(small_lake, tmp_path, monkeypatch, query, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()  # DuckDB's default temp folder, once on its allowed list
    victim = tmp_path / "victim.csv"
    victim.write_text("secret\n42\n")
    before = tree_digest(tmp_path)
    lake_before = tree_digest(small_lake)
    one_line_error(capsys, "sql", query.format(cwd=tmp_path, victim=victim, lake=small_lake), "--lake", small_lake)
    assert tree_digest(tmp_path) == before and tree_digest(small_lake) == lake_before


def test_read_queries_and_explain_of_them_still_run(small_lake):
    con = open_catalog(small_lake)
    for query in ("EXPLAIN ANALYZE SELECT count(*) FROM points", "explain (analyze, format json) select 1",
                  "EXPLAIN (select 1) union select 2", "with s as (select * from scans) select count(*) from s",
                  "describe points", "summarize chunks", "show tables", "from scans"):
        assert read_only_query(con, query).fetchall()


def test_catalog_has_a_memory_limit_and_no_spill_directory(small_lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    con = open_catalog(small_lake, memory_limit="32MB")
    settings = con.execute("select current_setting('temp_directory'), current_setting('allowed_directories'), "
                           "current_setting('memory_limit')").fetchall()[0]
    assert settings[:2] == ("", []) and settings[2].endswith("MiB")
    with pytest.raises(Exception, match="Out of Memory"):
        read_only_query(con, "select count(*) from (select * from range(8000000) order by random())").fetchall()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Exception, match="lock"):  # the limit cannot be raised from SQL either
        con.execute("SET memory_limit = '100GB'")
    with pytest.raises(ValueError, match="memory limit '1e9; drop table scans'"):
        open_catalog(small_lake, memory_limit="1e9; drop table scans")


# ---------------------------------------------------------------------------------------------
# Configs, constraint sets and the Python API: refused at validate, one line naming the key.


def test_range_whose_width_overflows_is_refused_before_the_lake(write_config, tmp_path, capsys):
    config = write_config(config_doc(parameters={"eta_u": {"range": [-1e308, 1e308]}}))
    for command in ("validate", "scan"):
        err = one_line_error(capsys, command, config, "--lake", tmp_path / "lake")
        assert f"{config}: parameters.eta_u.range: " in err and "overflows" in err
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize("value", [{"range": [-1e40, 1.0]}, 1e31, {"range": [0, 1e30 * 1.5]}])
def test_couplings_beyond_the_finite_domain_are_refused(write_config, tmp_path, value, capsys):
    config = write_config(config_doc(parameters={"eta_t": value}))
    err = one_line_error(capsys, "validate", config, "--lake", tmp_path / "lake")
    assert "parameters.eta_t" in err and "outside the supported domain" in err


def test_evaluate_refuses_couplings_beyond_the_finite_domain():
    point = dict(kappa_TeV=0.5, eta_d=0.3, eta_u=0.1, eta_c=-0.2, eta_t=0.01, g_D=1.0, U_mu4=1e-3, m_S_MeV=100.0, m_nu4_MeV=500.0)
    with pytest.raises(ValueError, match=r"eta_c = -1e\+100 .*\|eta_c\| <= 1e\+30"):
        evaluate(point | {"eta_c": -1e100})


def test_every_corner_of_the_domain_is_finite():
    """Couplings at 0, the smallest subnormal and the bound (both signs where allowed), g_D, U_mu4
    and the masses at their edges: no observable is NaN or inf."""
    lim = domain_limits()
    cap, tiny = lim["coupling_max"], 5e-324
    positive, signed = (0.0, tiny, cap), (0.0, tiny, -tiny, cap, -cap)
    rows = []
    for couplings in itertools.product(positive, positive, signed, signed, signed):
        for g_D, U, m_S in itertools.product((lim["g_D_min"], cap), (lim["U_mu4_min"], math.nextafter(1.0, 0.0)),
                                             (math.nextafter(lim["m_S_min_MeV"], math.inf), lim["m_S_max_MeV"])):
            rows += [(*couplings, g_D, U, m_S, m_nu4) for m_nu4 in (m_S * (1 + 1e-12), lim["m_nu4_max_MeV"])]
    table = evaluate(dict(zip(PARAMETER_NAMES, np.array(rows).T)))
    not_finite = {name: int((~np.isfinite(table.column(name).to_numpy())).sum()) for name in OBSERVABLES}
    assert not any(not_finite.values()), not_finite


def test_no_range_without_a_float_strictly_inside(write_config, capsys):
    config = write_config(config_doc(parameters={"eta_d": {"range": [0.5, math.nextafter(0.5, 1)]}}))
    assert "parameters.eta_d.range: no float64 number lies strictly between" in one_line_error(capsys, "validate", config)


EDGE_RANGES = {  # tight and extreme ranges where rounding could reach an edge
    "kappa_TeV": {"range": [0.0, 5e-323]},
    "eta_d": {"range": [1e-300, 1e30], "prior": "log"},
    "eta_u": {"range": [-1e30, 1e30]},
    "eta_c": {"range": [1.0, math.nextafter(math.nextafter(math.nextafter(1.0, 2), 2), 2)]},
    "eta_t": {"range": [0.0, 1.0]},
    "g_D": {"range": [1e-10, 1e-10 * (1 + 4e-16)], "prior": "log"},
}


@pytest.mark.parametrize("sampler", ["uniform", "sobol", "lhs"])
def test_samplers_never_return_an_edge(write_config, sampler):
    spec = load_config(write_config(config_doc(scan={"sampler": sampler, "points": 4096, "chunk_size": 4096},
                                               parameters=EDGE_RANGES)))
    points = chunk_points(spec, 0)
    for name, setting in EDGE_RANGES.items():
        low, high = setting["range"]
        values = points[name]
        assert np.all((values > low) & (values < high)), (name, values.min(), values.max())


def write_constraint_set(tmp_path, **changes) -> str:
    """The shipped datta2024 set with constraint 0 changed (or its keys removed where the value is None)."""
    from importlib import resources

    text = resources.files("dsscan").joinpath("data/constraints/datta2024.toml").read_text()
    head, first, rest = text.partition("[[constraint]]")
    entry, sep, tail = rest.partition("[[constraint]]")
    lines = [line for line in entry.splitlines() if line.split(" = ")[0] not in changes]
    lines += [f"{key} = {value}" for key, value in changes.items() if value is not None]
    path = tmp_path / f"set-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(head + first + "\n".join(lines) + "\n\n" + sep + tail)
    return str(path)


@pytest.mark.parametrize("changes, key", [
    ({"observable": '"BR_Bp_Kpnunuu"'}, "constraint[0] (Bp_Kpnunu).observable: unknown column 'BR_Bp_Kpnunuu' (did you mean 'BR_Bp_Kpnunu'?)"),
    ({"applies_above": "{ kappa = 0.0 }"}, "constraint[0] (Bp_Kpnunu).applies_above.kappa: unknown column 'kappa'"),
    ({"applies_above": "{ kappa_TeV = nan }"}, "constraint[0] (Bp_Kpnunu).applies_above.kappa_TeV: expected a finite number"),
    ({"central": "nan"}, "constraint[0] (Bp_Kpnunu).central: expected a finite number, got nan"),
    ({"error_up": "inf"}, "constraint[0] (Bp_Kpnunu).error_up: expected a finite number, got inf"),
    ({"error_down": "-1e-5"}, "constraint[0] (Bp_Kpnunu): error_up and error_down must be >= 0"),
    ({"scale": "0.0"}, "constraint[0] (Bp_Kpnunu).scale: expected a number > 0"),
    ({"kind": '"upper"', "central": None, "error_up": None, "error_down": None, "upper": "nan"},
     "constraint[0] (Bp_Kpnunu).upper: expected a finite number, got nan"),
    ({"kind": '"lower"', "central": None, "error_up": None, "error_down": None, "lower": "-inf"},
     "constraint[0] (Bp_Kpnunu).lower: expected a finite number, got -inf"),
    ({"name": '"a b"'}, "constraint[0] (a b).name: expected letters, digits and '_'"),
])
def test_constraint_set_is_resolved_at_validate(write_config, tmp_path, changes, key, capsys):
    constraint_set = write_constraint_set(tmp_path, **changes)
    config = write_config(config_doc(scan={"constraints": constraint_set}))
    for command in ("validate", "scan"):
        err = one_line_error(capsys, command, config, "--lake", tmp_path / "lake")
        assert f"{config}: scan.constraints: {constraint_set}: {key}" in err
    assert not (tmp_path / "lake").exists()


def test_evaluate_of_a_2d_array_is_one_line():
    points = {name: np.ones((2, 3)) for name in PARAMETER_NAMES}
    with pytest.raises(ValueError, match=r"^parameter kappa_TeV: expected a number or a 1-D array .* shape \(2, 3\)$"):
        evaluate(points)


# ---------------------------------------------------------------------------------------------
# Ray: a local scan opens nothing to the network.


def listening_sockets(processes: list[psutil.Process]) -> dict[tuple[str, int], str]:
    """(address, port) -> process name, of every listening TCP socket of ``processes``."""
    found = {}
    for process in processes:
        try:
            name = process.name()
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    found[(connection.laddr.ip, connection.laddr.port)] = name
        except psutil.Error:
            continue  # ended meanwhile
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


@pytest.mark.slow
def test_local_ray_scan_listens_on_loopback_only(write_config, tmp_path):
    config = write_config(config_doc(scan={"points": 2000, "chunk_size": 250}))
    marker, env = marked_environment()
    scan = subprocess.Popen(
        [*DSSCAN, "scan", str(config), "--lake", str(tmp_path / "lake"), "--engine", "ray", "--workers", "1", "--no-progress"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    sockets, family = {}, []
    try:
        while scan.poll() is None:
            family = [p for p in {*family, *descendants(scan.pid)} if p.is_running()]
            sockets |= listening_sockets([psutil.Process(scan.pid), *family])
            time.sleep(0.2)
        assert scan.returncode == 0, scan.stderr.read()
    finally:
        end_processes_of(marker, family)
    names = set(sockets.values())
    assert any("gcs_server" in n for n in names) and any("raylet" in n for n in names), sockets  # the cluster was seen
    exposed = {address: name for address, name in sockets.items() if not is_loopback(address[0])}
    assert not exposed, f"listening beyond 127.0.0.1: {exposed}"

