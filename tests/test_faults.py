"""Faults and the way back (docs/reliability.md, "Faults and the way back"): each fault is caused
for real against the real CLI, ends in one line naming the file, key or scan, and the way back
(rm, reuse, resume, repair) is taken, ending with the content of an uninterrupted run."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import config_doc, run_cli
from dsscan.config import dumps_toml
from lake.catalog import open_catalog
from lake.layout import chunk_file_name, manifest_path, scan_dir
import lake.lease as lease_module
from lake.lease import LEASE_NAME, Holder, current_holder, scan_lease
from lake.manifest import COMPLETE, FAILED, RUNNING, Manifest
from processes import DSSCAN

POINTS, CHUNK = 500, 100  # five chunk files per scan
LONG_CHUNKS, LONG_CHUNK = 20, 4_000  # a scan that runs for a few seconds


def cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(*argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    """The one ``dsscan: error:`` line a user-fixable failure prints, and nothing else."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("dsscan: error: "), err
    return lines[0]


def write_scan_config(folder, name: str, points: int = POINTS, chunk: int = CHUNK):
    path = folder / f"{name}.toml"
    path.write_text(dumps_toml(config_doc(scan={"name": name, "points": points, "chunk_size": chunk})))
    return path


def points_of(lake, scan: str):
    return open_catalog(lake).sql(
        f"SELECT * EXCLUDE (scan) FROM points WHERE scan = '{scan}' ORDER BY point_id").to_arrow_table()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A lake with the complete scans ``small`` and ``other`` (five chunks each), and their configs."""
    root, configs = tmp_path_factory.mktemp("faults") / "lake", tmp_path_factory.mktemp("configs")
    for name in ("small", "other"):
        assert run_cli("scan", write_scan_config(configs, name), "--lake", root, "--engine", "local", "--no-progress") == 0
    return root, configs


@pytest.fixture
def lake(template, tmp_path):
    """A copy of the template lake, for this test to damage."""
    shutil.copytree(template[0], tmp_path / "lake")
    return tmp_path / "lake"


@pytest.fixture
def small_config(template):
    return template[1] / "small.toml"


# ---------------------------------------------------------------------------------------------
# Scan start is transactional.


@pytest.mark.parametrize("scan, key", [({"points": 10**15}, "scan.points"),
                                       ({"points": 10**9, "chunk_size": 10**9}, "scan.chunk_size")])
def test_a_plan_too_big_for_memory_is_refused_before_the_lake_is_touched(scan, key, write_config, tmp_path, capsys):
    config, lake = write_config(config_doc(scan=scan)), tmp_path / "lake"
    for command in (["validate"], ["scan", "--engine", "local", "--no-progress"]):
        code, _, err = cli(capsys, command[0], config, *command[1:], "--lake", lake)
        line = one_error_line(err)
        assert code == 2 and f"{config}: {key}: " in line and "more than this machine's" in line
    assert not lake.exists()
    smaller = write_config(config_doc(scan={"points": 500, "chunk_size": 250}))  # the way back: a plan that fits
    assert cli(capsys, "scan", smaller, "--lake", lake, "--engine", "local", "--no-progress")[0] == 0


def test_deeply_nested_toml_and_a_bucketless_s3_root_are_one_line(write_config, capsys):
    deep = write_config("[scan]\nname = " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, _, err = cli(capsys, "validate", deep)
    assert code == 2 and f"{deep}: not valid TOML: nested too deeply" in one_error_line(err)
    code, _, err = cli(capsys, "validate", write_config(config_doc()), "--lake", "s3://")
    assert code == 2 and "--lake: expected s3://bucket or s3://bucket/prefix, got 's3://'" in one_error_line(err)


@pytest.mark.slow
@pytest.mark.parametrize("engine, address", [("ray", "127.0.0.1:1"), ("dask", "tcp://127.0.0.1:1")])
def test_an_unreachable_cluster_fails_before_the_lake_is_touched(engine, address, tmp_path):
    config, lake = write_scan_config(tmp_path, "small"), tmp_path / "lake"
    run = subprocess.run([*DSSCAN, "scan", str(config), "--engine", engine, "--address", address, "--lake", str(lake),
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "127.0.0.1:1 does not answer" in one_error_line(run.stderr)
    assert not lake.exists()
    assert run_cli("scan", config, "--engine", "local", "--lake", lake, "--no-progress") == 0  # nothing to clean up


def test_a_folder_without_manifest_is_listed_reused_or_removed(lake, tmp_path, capsys):
    folder = scan_dir(lake, "third")
    folder.mkdir()  # what a start cut short (a crash, a full disk) before its manifest leaves
    code, out, err = cli(capsys, "lake", "ls", "--lake", lake)
    assert code == 0 and re.search(r"^third\s+incomplete \(no manifest\)$", out, re.M)
    assert "'dsscan lake rm third --yes' removes it" in err
    code, _, err = cli(capsys, "status", "third", "--lake", lake)
    assert code == 2 and "scan 'third' has a folder but no manifest" in one_error_line(err)
    code, out, _ = cli(capsys, "sql", "select scan, status from scans order by scan", "--lake", lake, "--format", "json")
    assert code == 0 and {"scan": "third", "status": "incomplete"} in json.loads(out)

    config = write_scan_config(tmp_path, "third", points=200)
    assert cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress")[0] == 0  # empty: reused
    manifest_path(lake, "third").unlink()  # now it holds chunk files but no manifest
    code, _, err = cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress")
    line = one_error_line(err)
    assert code == 2 and "holds chunk files but no manifest" in line and "dsscan lake rm third --yes" in line
    code, out, _ = cli(capsys, "lake", "rm", "third", "--yes", "--lake", lake)
    assert code == 0 and "incomplete" in out and not folder.exists()
    assert cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress")[0] == 0
    assert Manifest.load(manifest_path(lake, "third")).status == COMPLETE


# ---------------------------------------------------------------------------------------------
# Damage is contained and repairable.


def _edit_manifest(edit):
    def damage(text: str) -> str:
        doc = json.loads(text)
        edit(doc)
        return json.dumps(doc)
    return damage


DAMAGES = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "not an object": lambda text: "[1, 2]",
    "missing key": _edit_manifest(lambda doc: doc.pop("chunks_planned")),
    "mistyped chunk": _edit_manifest(lambda doc: doc["chunks"][0].update(rows="many")),
    "chunk not an object": _edit_manifest(lambda doc: doc["chunks"].__setitem__(0, 3)),
    "mistyped config": _edit_manifest(lambda doc: doc["config"].__setitem__("scan", [])),
    "chunk outside the plan": _edit_manifest(lambda doc: doc["chunks"][0].update(index=99)),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_each_kind_of_manifest_damage_is_one_line_naming_the_file(damage, lake, capsys):
    path = manifest_path(lake, "small")
    path.write_text(DAMAGES[damage](path.read_text()))
    code, out, err = cli(capsys, "lake", "ls", "--lake", lake)
    assert code == 0 and re.search(r"^other\s+complete", out, re.M) and re.search(r"^small\s+damaged", out, re.M)
    assert err.startswith(f"dsscan: warning: {path}: damaged manifest (") and len(err.strip().splitlines()) == 1


def test_a_damaged_manifest_affects_only_its_scan_and_is_removable(lake, small_config, capsys):
    path = manifest_path(lake, "small")
    path.write_text(DAMAGES["truncated"](path.read_text()))
    named = f"{path}: damaged manifest (not valid JSON"

    code, out, err = cli(capsys, "sql", "select scan, count(*) as n from points group by scan", "--lake", lake, "--format", "json")
    assert code == 0 and json.loads(out) == [{"scan": "other", "n": POINTS}] and named in err
    assert cli(capsys, "status", "other", "--lake", lake)[0] == 0
    for command in (["status", "small"], ["lake", "info", "small"], ["scan", small_config, "--resume", "--engine", "local"]):
        code, _, err = cli(capsys, *command, "--lake", lake)
        assert code == 2 and named in one_error_line(err) and "'dsscan lake rm small --yes' removes it" in err
    code, out, _ = cli(capsys, "lake", "verify", "--lake", lake)
    assert code == 1 and named in out
    assert open_catalog(lake).sql("select status from scans where scan = 'small'").fetchall() == [("damaged",)]  # the app's view

    code, out, _ = cli(capsys, "lake", "rm", "small", "--yes", "--lake", lake)
    assert code == 0 and "damaged manifest" in out and not scan_dir(lake, "small").exists()
    assert cli(capsys, "lake", "verify", "--lake", lake)[0] == 0


def test_missing_and_corrupted_part_files_are_told_refused_by_sql_and_repaired(lake, small_config, capsys):
    uninterrupted = points_of(lake, "small")
    folder = scan_dir(lake, "small")
    corrupted, missing = folder / chunk_file_name(1), folder / chunk_file_name(3)
    data = bytearray(corrupted.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside a data page
    corrupted.write_bytes(bytes(data))
    # A local lake is read by DuckDB's reader, which checks no page CRC (docs/reliability.md): the
    # query may run or stop naming the file; it never ends in a traceback. status names the file.
    code, _, err = cli(capsys, "sql", "select * from points where scan = 'small'", "--lake", lake)
    assert code == 0 or (code == 2 and f"corrupted: scan=small/{chunk_file_name(1)}" in one_error_line(err))

    missing.unlink()  # a scan with a missing file is left out, the others are queried
    code, out, err = cli(capsys, "sql", "select scan, count(*) as n from points group by scan", "--lake", lake, "--format", "json")
    assert code == 0 and json.loads(out) == [{"scan": "other", "n": POINTS}]
    assert f"dsscan: warning: {missing}: recorded but not found; 'dsscan scan CONFIG --resume --repair'" in err
    code, out, _ = cli(capsys, "status", "small", "--lake", lake)
    assert code == 0
    assert f"corrupted: scan=small/{chunk_file_name(1)}: sha256 differs from the one recorded for chunk 1" in out
    assert f"missing: scan=small/{chunk_file_name(3)}: recorded for chunk 3, not found" in out
    assert "dsscan scan CONFIG --resume --repair" in out

    code, out, _ = cli(capsys, "scan", small_config, "--resume", "--repair", "--lake", lake, "--engine", "local", "--no-progress")
    assert code == 0 and "resuming (3 of 5 chunks recorded; 2 with missing or corrupted files to compute again)" in out
    assert cli(capsys, "lake", "verify", "--lake", lake)[0] == 0
    assert points_of(lake, "small").equals(uninterrupted)


def test_repair_needs_resume(small_config, lake, capsys):
    code, _, err = cli(capsys, "scan", small_config, "--repair", "--lake", lake, "--engine", "local")
    assert code == 2 and "--repair: only with --resume" in one_error_line(err)


# ---------------------------------------------------------------------------------------------
# The per-scan lease.

HOLD_LEASE = """
import sys, time
from lake.lease import scan_lease
with scan_lease(sys.argv[1], sys.argv[2], "test holder"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_lease_refuses_every_writer_naming_the_holder_until_its_holder_dies(lake, small_config, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LEASE, str(lake), "small"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        for command in (["lake", "compact", "small"], ["lake", "vacuum", "small"], ["lake", "rm", "small", "--yes"],
                        ["scan", small_config, "--resume", "--engine", "local", "--no-progress"]):
            code, _, err = cli(capsys, *command, "--lake", lake)
            line = one_error_line(err)
            assert code == 2 and re.search(rf"scan 'small' is in use by 'test holder' \(host \S+, pid {holder.pid}, since ", line)
    finally:
        holder.kill()
        holder.wait()
    assert cli(capsys, "lake", "compact", "small", "--lake", lake)[0] == 0  # a dead holder's lease is taken over
    assert current_holder(lake, "small") is None


def _start(*argv, **options) -> subprocess.Popen:
    return subprocess.Popen([*DSSCAN, *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **options)


@pytest.mark.slow
def test_compact_racing_a_resume_is_refused_and_cannot_regress_the_manifest(tmp_path, capsys):
    lake, config = tmp_path / "lake", write_scan_config(tmp_path, "long", LONG_CHUNKS * LONG_CHUNK, LONG_CHUNK)
    assert run_cli("scan", config, "--lake", lake, "--engine", "local", "--no-progress") == 0
    uninterrupted = points_of(lake, "long")
    stopped = Manifest.load(manifest_path(lake, "long"))  # as if interrupted after four chunks; its files stay
    stopped.chunks = {i: stopped.chunks[i] for i in range(4)}
    stopped.status = "interrupted"
    stopped.save(lake)

    resume = _start("scan", config, "--resume", "--lake", lake, "--engine", "local", "--no-progress")
    refused = 0
    while resume.poll() is None:
        if current_holder(lake, "long") is None:  # not started yet, or done
            time.sleep(0.05)
            continue
        code, _, err = cli(capsys, "lake", "compact", "long", "--force", "--target-rows", "100000", "--lake", lake)
        if code == 2:
            line = one_error_line(err)
            assert f"scan 'long' is in use by 'dsscan scan {config} --resume --lake {lake}" in line and f"pid {resume.pid}," in line
            refused += 1
        time.sleep(0.2)
    out, err = resume.communicate()
    assert resume.returncode == 0, err
    assert refused > 0
    manifest = Manifest.load(manifest_path(lake, "long"))
    assert manifest.status == COMPLETE and sorted(manifest.chunks) == list(range(LONG_CHUNKS))
    assert cli(capsys, "lake", "compact", "long", "--target-rows", "100000", "--lake", lake)[0] == 0
    assert Manifest.load(manifest_path(lake, "long")).status == COMPLETE
    assert cli(capsys, "lake", "verify", "long", "--lake", lake)[0] == 0
    assert points_of(lake, "long").equals(uninterrupted)


@pytest.mark.slow
def test_two_fresh_scans_of_one_name_at_once_one_wins_the_other_gets_one_line(tmp_path):
    lake, config = tmp_path / "lake", write_scan_config(tmp_path, "twin", 10 * LONG_CHUNK, LONG_CHUNK)
    drivers = [_start("scan", config, "--lake", lake, "--engine", "local", "--no-progress") for _ in range(2)]
    results = [(d.wait(timeout=300), d.communicate()[1]) for d in drivers]
    assert sorted(code for code, _ in results) == [0, 2], results
    line = one_error_line(next(err for code, err in results if code == 2))
    assert "scan 'twin' is in use by " in line or "already holds a scan named 'twin'" in line
    manifest = Manifest.load(manifest_path(lake, "twin"))
    assert manifest.status == COMPLETE and len(manifest.chunks) == 10


@pytest.mark.slow
def test_on_s3_a_lease_object_refuses_a_live_holder_and_is_taken_over_when_stale(s3_module_bucket, tmp_path, capsys):
    lake = f"s3://{s3_module_bucket}/{tmp_path.name}"
    assert run_cli("scan", write_scan_config(tmp_path, "small"), "--lake", lake, "--engine", "local", "--no-progress") == 0
    lease = scan_dir(lake, "small") / LEASE_NAME
    assert not lease.exists()  # released when the scan ended
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid no longer runs
    now = time.time()
    holders = {  # holder -> taken over?
        Holder("elsewhere", 1, "dsscan scan live.toml", now, "live", expires=now + 60): False,
        Holder("elsewhere", 1, "dsscan scan expired.toml", now - 120, "expired", expires=now - 60): True,
        Holder(socket.gethostname(), ended.pid, "dsscan scan dead.toml", now, "dead",
               expires=now + 60): True,
    }
    for holder, taken_over in holders.items():
        lease.write_bytes(json.dumps(dataclasses.asdict(holder)).encode())
        code, _, err = cli(capsys, "lake", "vacuum", "small", "--lake", lake)
        if taken_over:
            assert code == 0 and not lease.exists()
        else:
            assert code == 2 and f"scan 'small' is in use by {holder.describe()}" in one_error_line(err)

    manifest = manifest_path(lake, "small")  # a damaged manifest on S3 affects only its scan, and rm removes it
    manifest.write_bytes(manifest.read_bytes()[:100])
    code, out, err = cli(capsys, "lake", "ls", "--lake", lake)
    assert code == 0 and re.search(r"^small\s+damaged", out, re.M) and f"{manifest}: damaged manifest (not valid JSON" in err
    assert cli(capsys, "lake", "rm", "small", "--yes", "--lake", lake)[0] == 0
    assert not scan_dir(lake, "small").exists()


@pytest.mark.slow
def test_on_s3_a_held_lease_is_renewed_and_a_takeover_is_noticed(s3_module_bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(lease_module, "OBJECT_LEASE_SECONDS", 0.6)  # renewed every 0.2 s
    root = f"s3://{s3_module_bucket}/{tmp_path.name}"
    other = Holder("elsewhere", 1, "another driver", time.time(), "other", expires=time.time() + 60)
    with scan_lease(root, "held", "test holder") as lease:
        path = scan_dir(root, "held") / LEASE_NAME
        first = json.loads(path.read_bytes())["expires"]
        time.sleep(0.5)
        assert json.loads(path.read_bytes())["expires"] > first
        path.write_bytes(json.dumps(dataclasses.asdict(other)).encode())  # taken over while this holder stalled
        for _ in range(200):
            if lease.lost:
                break
            time.sleep(0.05)
        assert lease.lost
    assert json.loads(path.read_bytes())["token"] == "other"  # releasing did not delete the new holder's lease


# ---------------------------------------------------------------------------------------------
# A lake that stops taking writes: a full disk, a read-only remount.


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (mounting needs root; skipped elsewhere); ``resize`` gives it more room."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def remount(mount_point, options: str) -> None:
    for _ in range(100):  # busy while a file is open for writing
        if subprocess.run(["mount", "-o", f"remount,{options}", str(mount_point)], capture_output=True).returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"cannot remount {mount_point} {options}")


def test_a_full_disk_fails_the_scan_in_one_line_and_resume_finishes_it(small_disk, tmp_path, capsys):
    lake, config = small_disk / "lake", write_scan_config(tmp_path, "full", 2_000, 200)
    code, _, err = cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress")
    first, *rest = err.strip().splitlines()
    assert code == 1 and "Traceback" not in err
    assert first.startswith(f"dsscan: error: writing to the lake {str(lake)!r} failed ([Errno 28] No space left on device")
    assert first.endswith("the manifest says failed") and "--resume" in rest[-1]
    failed = Manifest.load(manifest_path(lake, "full"))
    assert failed.status == FAILED and 0 < len(failed.chunks) < 10

    remount(small_disk, "size=16m")  # the way back: room, then --resume
    resumed = cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress", "--resume")
    assert resumed[0] == 0, resumed[2]
    assert run_cli("scan", config, "--lake", tmp_path / "reference", "--engine", "local", "--no-progress") == 0
    assert points_of(lake, "full").equals(points_of(tmp_path / "reference", "full"))


def test_a_disk_full_at_the_start_leaves_a_folder_the_next_scan_reuses(small_disk, tmp_path, capsys):
    lake, config = small_disk / "lake", write_scan_config(tmp_path, "start", 200, 100)
    lake.mkdir()
    filler = small_disk / "filler"
    with open(filler, "wb") as handle, pytest.raises(OSError):
        handle.write(b"\0" * (1 << 20))
    code, _, err = cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress")
    assert code == 2 and "No space left on device" in one_error_line(err) and "scan 'start'" in err
    assert not manifest_path(lake, "start").exists()
    filler.unlink()
    assert cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress")[0] == 0


@pytest.mark.slow
def test_a_lake_remounted_read_only_mid_scan_fails_in_one_line_and_resumes(small_disk, tmp_path, capsys):
    # ten times the long scan (290 MB of store = "all" files): on this tmpfs a chunk takes milliseconds,
    # and the scan must still be running when the remount lands (twenty chunks once finished first)
    remount(small_disk, "size=512m")
    lake, config = small_disk / "lake", write_scan_config(tmp_path, "ro", 10 * LONG_CHUNKS * LONG_CHUNK, LONG_CHUNK)
    driver = _start("scan", config, "--lake", lake, "--engine", "local", "--no-progress")
    path = manifest_path(lake, "ro")
    while not (path.exists() and len(json.loads(path.read_text() or "{}").get("chunks", [])) >= 4):
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.02)
    remount(small_disk, "ro")
    _, err = driver.communicate(timeout=300)
    first, *rest = err.strip().splitlines()
    assert driver.returncode == 1 and "Traceback" not in err and "Read-only file system" in first
    assert first.endswith("the manifest could not be updated either; it still says running") and "--resume" in rest[-1]
    assert Manifest.load(path).status == RUNNING
    code, out, _ = cli(capsys, "status", "ro", "--lake", lake)
    assert code == 0 and "stopped: the manifest says running but no process holds the scan" in out

    remount(small_disk, "rw")
    resumed = cli(capsys, "scan", config, "--lake", lake, "--engine", "local", "--no-progress", "--resume")
    assert resumed[0] == 0, resumed[2]
    assert run_cli("scan", config, "--lake", tmp_path / "reference", "--engine", "local", "--no-progress") == 0
    assert points_of(lake, "ro").equals(points_of(tmp_path / "reference", "ro"))
