"""Output folders that cannot be written, and evaluate/batch settings without bounds.

Every command that writes checks ``--out`` before it computes anything, so a long run is never
lost at the end; nothing is left behind by the check.
"""

from __future__ import annotations

import os

import pytest

from xaidesk.models import list_builtin_models

DIGIT = list_builtin_models("image")[0]["samples"][0]


@pytest.fixture
def digits_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(open(DIGIT, "rb").read())
    return folder


def _command(kind, tmp_path, digits_folder):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n" + "".join(f"{i},{i * i % 7}\n" for i in range(30)))
    return {
        "explain": ["explain", "image", DIGIT, "--model", "demo:digits", "--method", "gradient.sensitivity"],
        "table": ["explain", "table", table, "--method", "neon.kmeans"],
        "evaluate": ["evaluate", "image", DIGIT, "--model", "demo:digits", "--methods", "gradient.sensitivity"],
        "batch": ["batch", digits_folder, "--model", "demo:digits", "--methods", "gradient.sensitivity"],
        "probe": ["probe", digits_folder, "--model", "demo:digits"],
        "spray": ["spray", digits_folder],
    }[kind]


def _bad_out(kind, tmp_path):
    if kind == "under_a_file":
        (tmp_path / "file.txt").write_text("x")
        return tmp_path / "file.txt" / "results", "is a file, not a folder"
    if kind == "a_file":
        (tmp_path / "file.txt").write_text("x")
        return tmp_path / "file.txt", "exists and is a file"
    if kind == "proc":
        return "/proc/xaidesk-results", "cannot be written"
    if kind == "proc_itself":
        return "/proc", "cannot be written"
    if kind == "sys":
        return "/sys/xaidesk-results", "cannot be written"
    if kind == "link_loop":
        (tmp_path / "l1").symlink_to(tmp_path / "l2")
        (tmp_path / "l2").symlink_to(tmp_path / "l1")
        return tmp_path / "l1", "leads nowhere"
    if kind == "under_a_broken_link":
        (tmp_path / "gone").symlink_to(tmp_path / "nothing")
        return tmp_path / "gone" / "results", "leads nowhere"
    raise ValueError(kind)


@pytest.mark.parametrize("command", ["explain", "table", "evaluate", "batch", "probe", "spray"])
@pytest.mark.parametrize("where", ["under_a_file", "a_file", "proc", "proc_itself", "sys", "link_loop",
                                   "under_a_broken_link"])
def test_unwritable_output_is_refused_first(refused, tmp_path, digits_folder, command, where):
    out, says = _bad_out(where, tmp_path)
    argv = _command(command, tmp_path, digits_folder)
    before = sorted(p.name for p in tmp_path.iterdir())
    refused([*argv, "--out", out], inputs=[digits_folder], says=[says])
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "something was left beside the output"


@pytest.mark.parametrize("command", ["explain", "evaluate", "batch"])
def test_an_empty_output_name_is_refused(refused, tmp_path, digits_folder, command):
    refused([*_command(command, tmp_path, digits_folder), "--out", ""], says=["output folder name is empty"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
@pytest.mark.parametrize("command", ["explain", "evaluate", "batch"])
def test_a_read_only_output_folder_is_refused(refused, tmp_path, digits_folder, command):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused([*_command(command, tmp_path, digits_folder), "--out", locked / "results"], says=["cannot be written"])
    finally:
        locked.chmod(0o755)


def test_an_existing_folder_keeps_its_other_files(accepted, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    accepted(["explain", "image", DIGIT, "--model", "demo:digits", "--method", "gradient.sensitivity", "--out", out],
             inputs=[DIGIT])
    assert (out / "mine.txt").read_text() == "keep me" and (out / "summary.json").is_file()
    assert oct(os.stat(out / "summary.json").st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("option, says", [
    ("--seed=-1", "seed must be a whole number"),
    ("--seed=4294967296", "seed must be a whole number"),
    ("--random-orders=1000000", "At most 100 random orders"),
    ("--random-orders=0", "at least one random order"),
    ("--patch=100000", "larger than the input itself"),
    ("--patch=-1", "patch size must be 0"),
    ("--steps=0", "steps must be between 1 and 10000"),
    ("--steps=1000000", "steps must be between 1 and 10000"),
    ("--order=sideways", "Unknown removal order"),
    ("--methods=", "at least one method"),
])
def test_evaluate_bounds(refused, tmp_path, option, says):
    out = tmp_path / "out"
    refused(["evaluate", "image", DIGIT, "--model", "demo:digits", "--methods", "gradient.sensitivity", option,
             "--out", out], inputs=[DIGIT], out=out, says=[says])


@pytest.mark.parametrize("option, says", [
    (["--batch-size", "0"], "batch size must be at least 1"),
    (["--batch-size", "-5"], "batch size must be at least 1"),
    (["--shard", "5/4"], "numbered from 0 to 3"),
    (["--shard", "x"], "A shard is written i/n"),
    (["--target", "99"], "Class 99 does not exist"),
])
def test_batch_bounds(refused, tmp_path, digits_folder, option, says):
    out = tmp_path / "out"
    refused(["batch", digits_folder, "--model", "demo:digits", "--methods", "gradient.sensitivity", *option,
             "--out", out], inputs=[digits_folder], out=out, says=[says])


@pytest.mark.parametrize("option, says", [
    (["--count", "100000000"], "--count must be between 2 and 10000"),
    (["--count", "-3"], "--count must be between 2"),
    (["--seed", "-1"], "--seed must be a whole number"),
])
def test_spray_demo_folder_bounds(refused, tmp_path, option, says):
    out = tmp_path / "demo"
    refused(["spray", "--make-demo-folder", out, *option], out=out, says=[says])


@pytest.mark.parametrize("option, says", [(["--seed", "-1"], "--seed must be a whole number"),
                                          (["--seed", "4294967296"], "--seed must be a whole number")])
def test_probe_bounds(refused, tmp_path, digits_folder, option, says):
    out = tmp_path / "out"
    refused(["probe", digits_folder, "--model", "demo:digits", *option, "--out", out], inputs=[digits_folder],
            out=out, says=[says])
