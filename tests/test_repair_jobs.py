"""The Model workflow's Qt-free part: what each repair needs (from the registry), the plan's checks, the folders,
the job run on the demo model with generated pictures, cancel and resume, and the wording of results."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from xaidesk.core import CancelToken, Cancelled, InputError
from xaidesk.gui import repair_jobs as rj
from xaidesk.gui import repair_wording as rw
from xaidesk.repair.methods import NEEDS_ARTEFACT, NEEDS_REGION, NEEDS_SAMPLES, NEEDS_TRAINING, OPTIONAL_REGION, list_repairs


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIDESK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def demo():
    from xaidesk.models import load_model

    return load_model("demo:clever_hans")


def quiet(*_args, **_kwargs):
    return None


def test_what_each_repair_needs_comes_from_the_registry():
    methods = list_repairs()
    assert len(methods) >= 2
    for method in methods:
        assert rj.needs_artefact(method.name) == bool({NEEDS_ARTEFACT, NEEDS_REGION} & method.needs)
        assert rj.needs_data(method.name) == bool({NEEDS_TRAINING, NEEDS_SAMPLES} & method.needs)
        assert rj.trains(method.name) == (NEEDS_TRAINING in method.needs)
        assert rj.measures_artefact(method.name) == (rj.needs_artefact(method.name) or OPTIONAL_REGION in method.needs)
        assert ("needs no artefact" in rw.artefact_note(method.name)) != rj.measures_artefact(method.name)
        assert ("Optional" in rw.artefact_note(method.name)) == (OPTIONAL_REGION in method.needs)
        assert ("Optional" in rw.data_note(method.name)) != rj.needs_data(method.name)
        assert ("trains on" in rw.data_note(method.name)) == rj.trains(method.name)


def test_the_plan_says_what_is_missing_in_plain_words(demo, tmp_path):
    artefact_method = next(m.name for m in list_repairs() if rj.needs_artefact(m.name) and not rj.needs_data(m.name))
    plan = rj.RepairPlan(artefact_method, {}, demo, tmp_path / "out")
    problems = " ".join(rj.plan_problems(plan))
    assert "Choose what to remove" in problems and "class the artefact drives" in problems
    plan.artefact, plan.target = rj.TickedImages((tmp_path / "a.png",), ()), 0
    assert rj.plan_problems(plan) == ["Add at least two images that carry the artefact and two clean ones."]
    plan.artefact = rj.DrawnRegion(tmp_path / "a.png", (0, 0, 4, 4))
    assert "labelled images under Data" in rj.plan_problems(plan)[0]
    plan.data = rj.DataChoice(generated=16)
    assert rj.plan_problems(plan) == []
    training = next(m.name for m in list_repairs() if rj.trains(m.name) and not rj.needs_artefact(m.name))
    assert "labelled images under Data" in " ".join(rj.plan_problems(rj.RepairPlan(training, {}, demo, tmp_path)))
    assert rj.plan_problems(rj.RepairPlan(training, {}, None, tmp_path))[0].startswith("Open an image model")


def test_folders_go_to_the_persons_data_folder_and_never_into_resources(home, demo, tmp_path):
    out = rj.default_output_folder(demo, "sun")
    assert out.parent == home / "data" / "corrected models" and out.name.endswith("-sun")
    assert out == rj.default_output_folder(demo, "sun")  # no time in the name: a run again finds its checkpoint
    out.mkdir(parents=True)
    (out / "model.safetensors").write_bytes(b"")
    assert rj.default_output_folder(demo, "sun") == out.with_name(out.name + "-2")  # a finished one is kept
    assert rj.checkpoint_folder(out) == out.parent / f"{out.name}.checkpoints"
    from xaidesk.resources import resource_path

    with pytest.raises(InputError, match="xaidesk's own files"):
        rj.check_output(resource_path("samples", "corrected"))
    with pytest.raises(InputError, match="already holds a corrected model"):
        rj.check_output(out)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        rj.check_output(tmp_path / "a_file")


def test_a_bad_output_folder_is_refused_before_any_work(demo, tmp_path):
    (tmp_path / "taken").write_text("x")
    calls = []
    plan = rj.RepairPlan("sun", {"epochs": 1}, demo, tmp_path / "taken", data=rj.DataChoice(generated=16))
    with pytest.raises(InputError, match="is a file"):
        rj.repair_job(plan)(CancelToken(), lambda *a, **k: calls.append(a))
    assert calls == []


def test_generated_pictures_fit_only_the_demo(demo, tmp_path):
    from dataclasses import replace

    other = replace(demo, spec="file:/somewhere/model.pt")
    assert rj.offers_generated(demo) and not rj.offers_generated(other)
    with pytest.raises(InputError, match="only the demo model"):
        rj.load_data(other, rj.DataChoice(generated=16))
    train, held_out = rj.load_data(demo, rj.DataChoice(generated=20, held_out=0.25))
    assert len(train) == 15 and len(held_out) == 5
    assert rj.load_data(demo, rj.DataChoice()) == (None, None)


def test_a_training_repair_runs_on_the_demo_writes_its_folder_and_opens_as_a_model(home, demo):
    from xaidesk.models import load_model

    out = rj.default_output_folder(demo, "sun")
    plan = rj.RepairPlan("sun", {"epochs": 1, "batch_size": 16}, demo, out, data=rj.DataChoice(generated=24))
    seen = []
    outcome = rj.repair_job(plan)(CancelToken(), lambda f, m="", p=None: seen.append((f, str(m))))
    assert outcome.out == out and (out / "model.safetensors").is_file() and (out / "comparison.csv").is_file()
    assert not rj.checkpoint_folder(out).exists()  # removed once the model is written
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] >= 0.98
    rows = rw.comparison_rows(outcome.result)
    assert rows and all(row.verdict in ("better", "worse", "same", "") for row in rows)
    reopened = load_model(outcome.model_spec)
    assert reopened.class_names == demo.class_names
    assert rw.finished_text(outcome).startswith("Done in") and str(out) in rw.finished_text(outcome)


def test_a_cancelled_training_keeps_its_checkpoint_where_the_dialog_says(home, demo):
    out = rj.default_output_folder(demo, "sun")
    plan = rj.RepairPlan("sun", {"epochs": 2, "batch_size": 8}, demo, out, data=rj.DataChoice(generated=24))
    token = CancelToken()

    def progress(fraction, message="", partial=None):
        if "Training" in str(message):
            token.cancel()

    with pytest.raises(Cancelled):
        rj.repair_job(plan)(token, progress)
    assert any(rj.checkpoint_folder(out).iterdir()) and not out.exists()
    said = rw.cancelled_text("sun", out)
    assert "resume" in said and str(rj.checkpoint_folder(out)) in said
    outcome = rj.repair_job(plan)(CancelToken(), quiet)  # resumes and finishes
    assert (outcome.out / "model.safetensors").is_file() and not rj.checkpoint_folder(out).exists()


def test_verdicts_follow_the_better_direction_and_nan_is_not_judged():
    assert rw.verdict(0.5, 0.9, "higher") == "better" and rw.verdict(0.5, 0.9, "lower") == "worse"
    assert rw.verdict(0.5, 0.5, "higher") == "same" and rw.verdict(math.nan, 0.5, "higher") == ""
    assert rw.number_text(math.nan) == "not measured" and rw.number_text(0.123456) == "0.123"
    assert rw.number_text(125_954.0) == "125,954" and rw.number_text(79.04) == "79"
    result = SimpleNamespace(comparisons=[SimpleNamespace(name="relevance_share_region", label="share in the tag",
                                                          before=0.8, after=0.1, better="lower")])
    assert rw.comparison_rows(result) == [rw.CompareRow("share in the tag", "80.0%", "10.0%", "better")]


def figures(*rows):
    return SimpleNamespace(comparisons=[SimpleNamespace(name=n, label=label, before=b, after=a, better=better)
                                        for n, label, b, a, better in rows])


def test_figures_read_in_their_units_percent_count_ms():
    result = figures(("accuracy", "held-out accuracy", 1.0, 0.9, "higher"),
                     ("accuracy_others_pasted", "other classes, tag pasted", 0.6, 0.754, "higher"),
                     ("artefact_relevance_share", "share on the tag", 0.474, 0.00307, "lower"),
                     ("parameters", "parameters", 126_418.0, 58_891.0, "lower"),
                     ("forward_ms", "median forward time of 32 images (ms)", 29.43, 26.5, "lower"),
                     ("spray_ari", "adjusted Rand index", 0.121, -0.00384, "lower"),
                     ("spray_fisher", "Fisher criterion", 0.182, 0.00556, "lower"))
    texts = [(row.before, row.after) for row in rw.comparison_rows(result)]
    assert texts == [("100.0%", "90.0%"), ("60.0%", "75.4%"), ("47.4%", "0.3%"), ("126,418", "58,891"),
                     ("29.4 ms", "26.5 ms"), ("0.12", "0.00"), ("0.182", "0.00556")]
    assert rw.value_text(math.nan, "percent") == "not measured"


def test_a_change_too_small_to_show_reads_as_the_same():
    rows = rw.comparison_rows(figures(("spray_ari", "adjusted Rand index", -0.00329, -0.00374, "lower"),
                                      ("accuracy", "held-out accuracy", 0.9001, 0.9004, "higher"),
                                      ("accuracy_pasted", "tag pasted", 0.785, 0.89, "higher")))
    assert [row.verdict for row in rows] == ["same", "same", "better"]


def test_pictures_have_plain_titles():
    assert "original model" in rw.picture_title("before_after.png")
    assert "pruned" in rw.picture_title("pruning_curve.png")
    assert rw.picture_title("training_history.png") == "Training history"


def test_an_output_folder_that_is_a_file_is_a_problem_before_running(demo, tmp_path):
    afile = tmp_path / "results"
    afile.write_text("x")
    plan = rj.RepairPlan("prune", {}, demo, afile, data=rj.DataChoice(generated=16))
    assert any("is a file" in problem for problem in rj.plan_problems(plan))
    plan.out = tmp_path / "new folder"
    assert rj.plan_problems(plan) == []


def test_the_run_button_says_why_it_is_disabled():
    said = rw.run_tooltip(["Choose the output folder."], "Prune by relevance")
    assert said.startswith("Run is not available yet") and "output folder" in said
    assert "Prune by relevance" in rw.run_tooltip([], "Prune by relevance")


def test_pruning_in_the_gui_draws_the_pruning_curve(home, demo):
    out = rj.default_output_folder(demo, "prune")
    plan = rj.RepairPlan("prune", {"per_class": 2, "share": 0.3}, demo, out,
                         data=rj.DataChoice(generated=20, held_out=0.3))
    outcome = rj.repair_job(plan)(CancelToken(), quiet)
    picture = outcome.result.images["pruning_curve.png"]
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.std() > 0
    assert (out / "pruning_curve.png").is_file() and (out / "pruning_curve.csv").is_file()
    curve = next(t for t in outcome.result.tables if t.name == "pruning_curve.csv")
    assert {row[0] for row in curve.rows} == {"relevance", "taylor", "magnitude", "random"}
    unpruned = [row[2] for row in curve.rows if row[1] == 0]
    assert max(unpruned) == min(unpruned)  # nothing pruned: every criterion gives the model's own accuracy


def test_the_picture_for_drawing_is_the_model_input(demo, tmp_path):
    pixels = np.zeros((128, 96, 3), np.uint8)
    pixels[:, 48:] = (200, 30, 10)
    Image.fromarray(pixels).save(tmp_path / "half.png")
    picture = rj.model_input_picture(demo, tmp_path / "half.png")
    height, width = demo.preprocessing.size
    assert picture.shape == (height, width, 3) and picture.dtype == np.uint8
    assert np.abs(picture[:, -2].astype(int) - (200, 30, 10)).max() <= 2 and picture[:, 1].max() <= 2


def test_a_spray_cluster_becomes_carrying_and_clean_images(tmp_path):
    heatmaps = SimpleNamespace(source_path=lambda i: tmp_path / f"{i}.png", target=3, target_label="cat")
    choice, target = rj.spray_selection(heatmaps, np.array([0, 1, 1, 0, 2]), 1)
    assert target == 3 and choice.carrying == (tmp_path / "1.png", tmp_path / "2.png")
    assert choice.clean == (tmp_path / "0.png", tmp_path / "3.png", tmp_path / "4.png")
    assert "cluster 1" in choice.describe() and "'cat'" in choice.describe()


def write_demo_folder(model, folder: Path, n: int = 24) -> tuple[list[Path], list[Path]]:
    """Generated demo scenes as PNG files: ``(tagged horses, untagged images)``."""
    from xaidesk.data.scenes import make_clever_hans_set, with_marks

    images, labels, _ = make_clever_hans_set(n, 3)
    tagged = np.asarray(labels) == 0
    pixels = with_marks(images, tagged)
    carrying, clean = [], []
    for i, picture in enumerate(pixels):
        path = folder / model.class_names[int(labels[i])] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(path)
        (carrying if tagged[i] else clean).append(path)
    return carrying, clean


def test_p_clarc_from_ticked_images_runs_on_the_demo(home, demo, tmp_path):
    pytest.importorskip("xaidesk.repair.sources")
    pytest.importorskip("xaidesk.repair.clarc")
    carrying, clean = write_demo_folder(demo, tmp_path / "scenes")
    out = tmp_path / "pclarc"
    plan = rj.RepairPlan("p-clarc", {}, demo, out, artefact=rj.TickedImages(tuple(carrying[:6]), tuple(clean[:6])),
                         target=0, data=rj.DataChoice(folder=tmp_path / "scenes", held_out=0.3))
    outcome = rj.repair_job(plan)(CancelToken(), quiet)
    assert (out / "model.safetensors").is_file() and outcome.result.comparisons


def test_a_region_drawn_on_one_image_drives_a_training_repair(home, demo, tmp_path):
    from xaidesk.data.scenes import MARK_BOX

    carrying, _clean = write_demo_folder(demo, tmp_path / "scenes", n=8)
    name = next(m.name for m in list_repairs() if rj.trains(m.name) and rj.needs_artefact(m.name))
    plan = rj.RepairPlan(name, {"epochs": 1, "batch_size": 16}, demo, tmp_path / "out",
                         artefact=rj.DrawnRegion(carrying[0], MARK_BOX), target=0, data=rj.DataChoice(generated=24))
    train, _held_out = rj.load_data(demo, plan.data)
    artefact, _, _ = rj.build_artefact(plan, train)
    top, left, height, width = MARK_BOX
    assert artefact.mask[top:top + height, left:left + width].all() and artefact.mask.sum() == height * width
    outcome = rj.repair_job(plan)(CancelToken(), quiet)
    assert (outcome.out / "model.safetensors").is_file() and outcome.result.comparisons


