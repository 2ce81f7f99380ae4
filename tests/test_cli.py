"""The headless contract of docs/architecture.md: outputs, and one plain sentence on errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from xaidesk.cli import main
from xaidesk.models import list_builtin_models


@pytest.fixture(scope="module")
def digits_sample():
    digits = next(m for m in list_builtin_models() if m["spec"] == "demo:digits")
    return digits["samples"][0]


def test_methods_lists_the_registry(capsys):
    assert main(["methods", "--modality", "image"]) == 0
    out = capsys.readouterr().out
    for name in ("lrp.epsilon_plus_flat", "gradient.integrated", "occlusion"):
        assert name in out
    assert main(["methods", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    smooth = next(m for m in listing if m["name"] == "gradient.smoothgrad")
    assert {p["name"] for p in smooth["params"]} >= {"samples"}


def test_models_lists_builtin_demos(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "demo:digits" in out and "demo:clever_hans" in out and "resnet18" in out


def test_explain_image_writes_the_contracted_outputs(tmp_path, digits_sample, capsys):
    out = tmp_path / "result"
    code = main([
        "explain", "image", str(digits_sample), "--model", "demo:digits",
        "--method", "lrp.epsilon_plus_flat", "--out", str(out),
    ])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["overlay.png", "relevance.npy", "summary.json"]
    relevance = np.load(out / "relevance.npy")
    with Image.open(digits_sample) as image:
        size = image.size
    assert relevance.shape == (size[1], size[0])
    with Image.open(out / "overlay.png") as overlay:
        assert overlay.size == size
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "lrp.epsilon_plus_flat"
    assert summary["model"] == "demo:digits"
    assert summary["target"]["index"] == summary["predicted"]["index"]
    assert summary["predicted"]["label"] == digits_sample.stem.split("_")[-1]
    assert summary["seconds"] >= 0 and "params" in summary
    # mapping back onto the image keeps the model-space sum; biases absorb part of the logit
    assert summary["relevance_sum"] == pytest.approx(summary["extras"]["relevance_sum"], rel=1e-3)
    assert 0.5 * summary["score"] < summary["relevance_sum"] <= 1.05 * summary["score"]


def test_explain_other_target_and_params(tmp_path, digits_sample):
    out = tmp_path / "r"
    code = main([
        "explain", "image", str(digits_sample), "--model", "demo:digits", "--method", "gradient.smoothgrad",
        "--target", "3", "--param", "samples=4", "--param", "noise_level=0.05", "--out", str(out),
    ])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"]["index"] == 3
    assert summary["params"]["samples"] == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "lrp.nope"], "no method called"),
        (["--method", "gradient.smoothgrad", "--param", "samples=zero"], "not a valid int"),
        (["--method", "lrp.epsilon_plus_flat", "--target", "99"], "does not exist"),
        (["--method", "lrp.epsilon_plus_flat", "--param", "colour=red"], "no parameter"),
    ],
)
def test_errors_are_one_sentence_and_write_nothing(tmp_path, digits_sample, capsys, args, message):
    out = tmp_path / "never"
    code = main(["explain", "image", str(digits_sample), "--model", "demo:digits", *args, "--out", str(out)])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_image_and_bad_model(tmp_path, digits_sample, capsys):
    fake = tmp_path / "fake.png"
    fake.write_text("hello")
    assert main(["explain", "image", str(fake), "--model", "demo:digits", "--method", "occlusion", "--out", str(tmp_path / "o")]) == 1
    assert "not an image" in capsys.readouterr().err
    assert main(["explain", "image", str(digits_sample), "--model", "demo:unknown", "--method", "occlusion", "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.startswith("xaidesk: ")
    assert not (tmp_path / "o").exists()


def test_usage_error_is_plain():
    result = subprocess.run(
        [sys.executable, "-m", "xaidesk", "explain", "image"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "required" in result.stderr and "Traceback" not in result.stderr


def test_lime_writes_segments_and_their_weights(tmp_path, digits_sample):
    out = tmp_path / "lime"
    code = main(["explain", "image", str(digits_sample), "--model", "demo:digits", "--method", "lime",
                 "--param", "num_samples=60", "--param", "n_segments=12", "--out", str(out)])
    assert code == 0
    segments = np.load(out / "segments.npy")
    relevance = np.load(out / "relevance.npy")
    rows = (out / "segments.csv").read_text().splitlines()
    assert rows[0] == "segment,weight,cells"
    table = {int(r.split(",")[0]): (float(r.split(",")[1]), int(r.split(",")[2])) for r in rows[1:]}
    assert sum(cells for _, cells in table.values()) == int(np.count_nonzero(segments >= 0))
    label = int(segments[segments.shape[0] // 2, segments.shape[1] // 2])
    assert relevance[segments.shape[0] // 2, segments.shape[1] // 2] == pytest.approx(table[label][0], rel=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["extras"]["num_segments"] == len(table)


def test_evaluate_writes_a_pixel_flipping_curve(tmp_path):
    horse = next(m for m in list_builtin_models() if m["spec"] == "demo:clever_hans")["samples"][0]
    out = tmp_path / "evaluated"
    code = main(["explain", "image", str(horse), "--model", "demo:clever_hans", "--method", "lrp.epsilon_plus_flat",
                 "--evaluate", "--out", str(out)])
    assert code == 0
    rows = (out / "pixel_flipping.csv").read_text().splitlines()
    assert rows[0] == "fraction_removed,score,random_order_score" and len(rows) == 22
    flipping = json.loads((out / "summary.json").read_text())["pixel_flipping"]
    # LRP finds what this model uses: removing its most relevant patches first hurts the score faster.
    assert flipping["auc"] < flipping["random_auc"]


# --- issue 12: help, unwritable output, library warnings, strict JSON ----------------------------


def test_help_says_no_command_opens_the_window_and_names_demo(capsys):
    from xaidesk.__main__ import main as entry

    with pytest.raises(SystemExit) as stop:
        entry(["--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "None of these commands opens the window" in text
    assert "python -m xaidesk --demo" in text


@pytest.mark.parametrize("argv", [
    ["explain", "image", "missing.png", "--model", "demo:digits", "--method", "occlusion"],
    ["explain", "audio", "missing.wav", "--model", "demo:sounds", "--method", "occlusion"],
    ["explain", "table", "missing.csv", "--method", "neon.kmeans"],
    ["explain", "molecules", "missing", "--energies", "missing.txt", "--method", "ridge.atoms"],
    ["evaluate", "image", "missing.png", "--model", "demo:digits", "--methods", "occlusion"],
    ["evaluate", "table", "missing.csv", "--methods", "neon.kmeans"],
    ["batch", "missing", "--model", "demo:digits", "--methods", "occlusion"],
    ["batch", "--merge", "missing1", "missing2"],
    ["spray", "missing"],
    ["probe", "missing", "--model", "demo:digits"],
    ["correct", "--model", "demo:clever_hans", "--method", "p-clarc", "--demo-data", "40"],
    ["prune", "--model", "demo:clever_hans", "--demo-data", "40"],
    ["finetune", "--model", "demo:clever_hans", "--method", "sun", "--demo-data", "40"],
])
def test_every_writing_command_checks_its_output_folder_first(tmp_path, capsys, argv):
    for out in ("/proc/xaidesk-results", "/proc"):
        assert main([*argv, "--out", out]) == 1
        err = capsys.readouterr().err
        assert err.startswith("xaidesk: The results cannot be written to") and len(err.splitlines()) == 1, err


def test_an_empty_output_name_is_refused(capsys, digits_sample):
    with pytest.raises(SystemExit) as stop:
        main(["explain", "image", str(digits_sample), "--model", "demo:digits", "--method", "occlusion", "--out", ""])
    assert stop.value.code == 2
    assert "output folder name is empty" in capsys.readouterr().err


def test_library_warnings_become_one_plain_note(monkeypatch, capsys):
    import warnings

    import xaidesk.commands.listing as listing

    def noisy(args):
        for _ in range(3):
            warnings.warn("divide by zero encountered in log", RuntimeWarning)
        warnings.warn("a deprecated option", FutureWarning)
        return 0

    monkeypatch.setattr(listing, "run_methods", noisy)
    assert main(["methods"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == ["xaidesk: note: 2 library warning(s) were kept off the screen (the first: "
                                "RuntimeWarning: divide by zero encountered in log)."]


def test_summary_json_holds_null_not_nan(tmp_path, digits_sample, monkeypatch):
    import xaidesk.commands.common as common

    monkeypatch.setattr(common, "prediction_summary", lambda prediction, explanation: {"odd": float("nan")})
    out = tmp_path / "r"
    assert main(["explain", "image", str(digits_sample), "--model", "demo:digits", "--method",
                 "gradient.sensitivity", "--out", str(out)]) == 0

    def refuse(constant):
        raise AssertionError(f"bare {constant} in summary.json")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=refuse)
    assert summary["odd"] is None


@pytest.mark.parametrize("command", ["explain", "evaluate", "batch"])
def test_long_runs_print_progress_lines_when_stderr_is_not_a_terminal(tmp_path, digits_sample, capsys, monkeypatch,
                                                                      command):
    import shutil

    import xaidesk.commands.common as common

    monkeypatch.setattr(common, "cli_progress", lambda: common.CliProgress(interval=0.0))  # every report counts as late
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(digits_sample, folder / "a.png")
    argv = {
        "explain": ["explain", "image", str(digits_sample), "--model", "demo:digits", "--method", "occlusion"],
        "evaluate": ["evaluate", "image", str(digits_sample), "--model", "demo:digits", "--methods",
                     "gradient.sensitivity", "--steps", "4"],
        "batch": ["batch", str(folder), "--model", "demo:digits", "--methods", "gradient.sensitivity"],
    }[command]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("xaidesk: progress ")]
    assert lines and all("%" in line and "\r" not in line for line in lines)


def test_messages_outside_the_gui_use_no_gui_words():
    """Errors from the core reach the command line too: no buttons, clicks or menus in them."""
    import ast
    import re
    from pathlib import Path

    import xaidesk

    gui_words = re.compile(r"\bclick|\bpress (Run|the)\b|\bbutton\b|▸|\btick (the|a|at)\b|\bcheckbox", re.IGNORECASE)
    root = Path(xaidesk.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if "gui" in path.relative_to(root).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if gui_words.search(node.value):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:80]!r}")
    assert not found, "\n".join(found)


def test_how_much_maps_are_drawn_without_against_colours(digits_sample, tmp_path):
    """Sensitivity only says how much: overlay.png uses the sequential map over the map's own range
    (its least relevant pixel dark), not the red/blue map around zero (where it would be white)."""
    from PIL import Image

    from xaidesk.core import render

    out = tmp_path / "sensitivity"
    assert main(["explain", "image", str(digits_sample), "--model", "demo:digits", "--method",
                 "gradient.sensitivity", "--out", str(out)]) == 0
    relevance = np.load(out / "relevance.npy")
    overlay = np.asarray(Image.open(out / "overlay.png").convert("RGB")).astype(float)
    least = np.unravel_index(np.nanargmin(relevance), relevance.shape)
    assert overlay[least].mean() < 0.4 * 255 + 10
    levels = render.automatic_levels(relevance, signed=False)
    assert levels[0] == pytest.approx(render.range_levels(relevance)[0]) and levels[0] != -levels[1]
    assert render.automatic_colormap(False) == render.UNSIGNED_COLORMAP
    assert render.automatic_colormap(True) == render.DEFAULT_COLORMAP


def test_figure_titles_name_a_class_only_for_methods_that_explain_one(digits_sample, tmp_path, monkeypatch):
    from xaidesk.core import render

    titles = []
    original = render.figure_bytes
    monkeypatch.setattr(render, "figure_bytes", lambda *a, **k: titles.append(k["title"]) or original(*a, **k))
    for method, extra in (("relax", ["--param", "num_masks=50"]), ("gradient.sensitivity", [])):
        assert main(["explain", "image", str(digits_sample), "--model", "demo:digits", "--method", method,
                     *extra, "--figure", "--out", str(tmp_path / method)]) == 0
        assert (tmp_path / method / "figure.png").is_file()
    relax_title, sensitivity_title = titles
    assert "class" not in relax_title.lower() and relax_title.startswith("RELAX")
    target = json.loads((tmp_path / "gradient.sensitivity" / "summary.json").read_text())["target"]
    index = target["index"] if isinstance(target, dict) else target
    assert f"class {index}" in sensitivity_title


def test_library_warnings_are_summed_up_also_when_a_command_fails(monkeypatch, capsys):
    import warnings

    import xaidesk.cli as cli
    from xaidesk.commands.common import EXIT_ERROR

    def failing(args):
        warnings.warn("an overflow in some library", RuntimeWarning)
        print("xaidesk: the input could not be used.", file=sys.stderr)
        return EXIT_ERROR

    monkeypatch.setattr(cli, "_dispatch", failing)
    assert main(["methods"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "1 library warning(s)" in err and "RuntimeWarning: an overflow in some library" in err
