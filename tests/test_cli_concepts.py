"""``xaidesk concepts``: layers, one image, reference samples and prototypes from the command line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from xaidesk.cli import main
from xaidesk.concepts import references as refs


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(refs, "references_root", lambda: tmp_path / "cache" / "concepts")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    from xaidesk.data.scenes import write_mark_demo_folder

    return write_mark_demo_folder(tmp_path_factory.mktemp("pictures") / "marks", n=16, seed=0)


def test_layers_lists_the_concept_layers_and_marks_the_default(capsys):
    assert main(["concepts", "layers", "--model", "demo:digits"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[-2].endswith("(default)") and "dense" in lines[-1]


def test_image_writes_the_concepts_and_their_heatmaps_that_the_panel_reads(tmp_path, capsys):
    from xaidesk.concepts.files import read_image_concepts
    from xaidesk.resources import resource_path

    out = tmp_path / "out"
    image = resource_path("samples", "digits_3.png")
    assert main(["concepts", "image", str(image), "--model", "demo:digits", "--top", "3", "--out", str(out)]) == 0
    back = read_image_concepts(out)
    channels = [int(r["channel"]) for r in back["rows"]]
    assert len(channels) == 3 and back["heatmaps"].shape[0] == 3
    assert sorted(p.name for p in out.glob("concept_*.png")) == sorted(f"concept_{c:04d}.png" for c in channels)
    relevance = np.load(out / "channel_relevance.npy")
    assert channels == list(np.argsort(-relevance)[:3])
    feeding = list(csv.DictReader(open(out / "feeding.csv")))
    assert {int(r["channel"]) for r in feeding} == set(channels)
    assert json.loads((out / "concepts.json").read_text())["layer"] == "8"
    assert "concept" in capsys.readouterr().out


def test_references_then_prototypes(pictures, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["concepts", "references", str(pictures), "--model", "demo:clever_hans", "--per-concept", "2",
                 "--batch-size", "5", "--out", str(run)]) == 0
    records = refs.open_references(run)
    assert len(records.files) == 16 and records.finished
    rows = list(csv.DictReader(open(run / "references" / "references.csv")))
    assert len(rows) == records.channels * 2 * 2
    assert rows[0]["file"] == records.relmax(int(rows[0]["channel"]), 1)[0].file
    assert refs.find_references("demo:clever_hans", records.layer) == [run.resolve()]
    counts = np.bincount(records.predicted, minlength=2)
    chosen = int(np.argmax(counts))
    out = tmp_path / "prototypes"
    assert main(["concepts", "prototypes", str(run), "--class", str(chosen), "--prototypes", "2",
                 "--out", str(out)]) == 0
    from xaidesk.concepts.prototype_files import read_prototypes

    back = read_prototypes(out)
    assert back.count == 2 and len(back.files) == counts[chosen]
    assert back.settings["layer"] == records.layer and back.settings["model"] == "demo:clever_hans"
    assert "least typical" in capsys.readouterr().out

    # a new prediction compared with the prototypes: nearest prototype, percentile, differing concepts
    picture = pictures / back.files[0]
    judged = tmp_path / "judged"
    assert main(["concepts", "image", str(picture), "--model", "demo:clever_hans", "--target", str(chosen),
                 "--prototypes", str(out), "--out", str(judged)]) == 0
    typicality = json.loads((judged / "concepts.json").read_text())["typicality"]
    assert 0 <= typicality["percentile"] <= 100 and typicality["prototype"] in (0, 1)
    assert len(typicality["differences"]) == 5 and "more typical than" in capsys.readouterr().out
    assert main(["concepts", "image", str(picture), "--model", "demo:clever_hans", "--target", str(1 - chosen),
                 "--prototypes", str(out), "--out", str(tmp_path / "other")]) == 1
    assert f"prototypes are of class {chosen}" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--channels", "1,x"], "whole numbers"),
    (["--layer", "nope"], "not a concept layer"),
    (["--method", "occlusion"], "not one"),
    (["--top", "0"], "at least one concept"),
])
def test_bad_options_give_one_plain_sentence_and_write_nothing(tmp_path, capsys, extra, message):
    from xaidesk.resources import resource_path

    out = tmp_path / "out"
    image = resource_path("samples", "digits_3.png")
    assert main(["concepts", "image", str(image), "--model", "demo:digits", *extra, "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("xaidesk: ") and message in error and "Traceback" not in error
    assert not out.exists()


def test_references_refuses_bad_counts_and_shards_before_any_work(pictures, tmp_path, capsys):
    for extra, message in ((["--per-concept", "0"], "at least 1"), (["--shard", "3/2"], "shard")):
        out = tmp_path / "run"
        code = main(["concepts", "references", str(pictures), "--model", "demo:clever_hans", *extra, "--out", str(out)])
        error = capsys.readouterr().err
        assert code == 1 and message in error and "Traceback" not in error
        assert not out.exists()


def test_a_shard_of_a_reference_run_holds_every_other_image(pictures, tmp_path):
    assert main(["concepts", "references", str(pictures), "--model", "demo:clever_hans", "--shard", "1/2",
                 "--per-concept", "1", "--out", str(tmp_path / "half")]) == 0
    assert len(refs.open_references(tmp_path / "half").files) == 8
