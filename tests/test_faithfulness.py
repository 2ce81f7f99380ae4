"""Faithfulness: planted evidence, agreement with Quantus, cancel, audio, tables and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from xaidesk.cli import main
from xaidesk.core import Cancelled, CancelToken, InputError
from xaidesk.evaluate import (
    FlipSettings, audio_faithfulness, compare_image_methods, curve_aopc, curve_auc, image_faithfulness,
    table_faithfulness,
)
from xaidesk.explain import explain_image

from helpers import loaded

# The planted-evidence network: class 0 reads only the 6x6 square at rows/cols 4..9 of a
# 16x16 image (through a local convolution, then a linear layer that is zero elsewhere).
PLANTED = textwrap.dedent("""
    import torch

    class Planted(torch.nn.Module):
        def __init__(self, channels=3):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(channels, 4, 3, padding=1)
            self.relu = torch.nn.ReLU()
            self.flatten = torch.nn.Flatten()
            self.linear = torch.nn.Linear(4 * 16 * 16, 2)
            with torch.no_grad():
                self.conv.weight.abs_()
                self.conv.bias.zero_()
                mask = torch.zeros(4, 16, 16)
                mask[:, 4:10, 4:10] = 1.0
                self.linear.weight.copy_(torch.stack([mask.flatten() * 0.05, -mask.flatten() * 0.05]))
                self.linear.bias.zero_()

        def forward(self, x):
            return self.linear(self.flatten(self.relu(self.conv(x))))
""")


def planted_model():
    scope: dict = {}
    exec(PLANTED, scope)
    return loaded(scope["Planted"](), 16, class_names=["in", "out"])


def bright_image() -> np.ndarray:
    return np.random.default_rng(0).integers(120, 255, (16, 16, 3), dtype=np.uint8)


def test_lrp_morf_falls_faster_than_random_on_planted_evidence():
    model, image = planted_model(), bright_image()
    explanation = explain_image(model, image, "lrp.epsilon_plus_flat", target=0)
    # the explanation is confined to the planted square plus the convolution's one-pixel reach
    outside = np.ones((16, 16), dtype=bool)
    outside[3:11, 3:11] = False
    assert np.abs(explanation.relevance[outside]).max() < 1e-6 < explanation.relevance[4:10, 4:10].min()
    result = image_faithfulness(model, image, explanation.relevance, 0,
                                FlipSettings(steps=16, patch=2, fill="black", random_orders=5), method="lrp")
    areas = result.areas()
    assert areas["aopc_morf"] > areas["aopc_random"] > areas["aopc_lerf"]
    assert areas["aopc_morf_minus_random"] > 0 > areas["aopc_lerf_minus_random"]
    assert areas["auc_morf"] < areas["auc_random"] < areas["auc_lerf"]
    # LeRF first removes the 39 patches out of the convolution's reach: the score does not move
    assert np.allclose(result.curves["lerf"][:10], result.score) and result.curves["lerf"][12] < result.score
    assert result.curves["morf"][-1] == pytest.approx(0.0, abs=1e-6)  # all black: only biases (zero) remain


def test_areas_match_their_definitions():
    fractions = np.array([0.0, 0.5, 1.0])
    scores = np.array([4.0, 1.0, 0.0])
    assert curve_auc(fractions, scores, 4.0) == pytest.approx((0.5 * (4 + 1) / 2 + 0.5 * (1 + 0) / 2) / 4)
    assert curve_aopc(scores) == pytest.approx(((4 - 4) + (4 - 1) + (4 - 0)) / 3)


QUANTUS_SCRIPT = PLANTED + textwrap.dedent("""
    import sys
    import numpy as np
    import quantus

    folder = sys.argv[1]
    x = np.load(folder + "/x.npy")
    a = np.load(folder + "/a.npy")
    model = Planted(channels=1).eval()
    metric = quantus.PixelFlipping(features_in_step=1, perturb_baseline=0.0, normalise=False,
                                   abs=False, disable_warnings=True)
    scores = metric(model=model, x_batch=x, y_batch=np.array([0]), a_batch=a, softmax=False, device="cpu",
                    channel_first=True)
    np.save(folder + "/quantus.npy", np.asarray(scores, dtype=np.float64))
""")


def test_per_pixel_morf_agrees_with_quantus_pixel_flipping(tmp_path):
    """Quantus on the same one-channel model, input, attribution and order (run in a subprocess:
    Quantus imports OpenCV, which can change Qt's environment in the process that imports it)."""
    pytest.importorskip("quantus")
    scope: dict = {}
    exec(PLANTED, scope)
    model = loaded(scope["Planted"](channels=1), 16, channels=1, class_names=["in", "out"])
    gray = np.random.default_rng(1).integers(60, 255, (16, 16), dtype=np.uint8)
    image = np.repeat(gray[..., None], 3, axis=2)
    attribution = np.random.default_rng(2).normal(size=(16, 16))  # no ties: one order for both
    x = model.preprocessing.to_tensor(image).numpy()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "a.npy", attribution[None, None])
    (tmp_path / "run.py").write_text(QUANTUS_SCRIPT)
    done = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # Quantus flips one pixel per step to the value 0 (our "black": intensity 0, model input 0 here)
    # and returns the logit after each step; ours adds the unperturbed point first.
    reference = np.load(tmp_path / "quantus.npy")[0]
    ours = image_faithfulness(model, image, attribution, 0,
                              FlipSettings(orders=("morf",), steps=256, patch=1, fill="black"))
    assert reference.shape == (256,) and ours.curves["morf"].shape == (257,)
    np.testing.assert_allclose(ours.curves["morf"][1:], reference, rtol=1e-5, atol=1e-5)
    assert np.ptp(reference) > 1.0  # the curve really moves


def test_cancel_raises_within_the_run():
    model, image = planted_model(), bright_image()
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        seen.append(fraction)
        token.cancel()

    with pytest.raises(Cancelled):
        image_faithfulness(model, image, np.ones((16, 16)), 0, FlipSettings(steps=50, patch=1), token=token,
                           progress=progress)
    assert len(seen) == 1  # stopped right after the first batch


def test_compare_runs_each_method_with_progress_over_methods():
    model, image = planted_model(), bright_image()
    reports = []
    results = compare_image_methods(model, image, ["lrp.epsilon_plus_flat", "gradient.sensitivity"], target=0,
                                    settings=FlipSettings(steps=8, patch=4, random_orders=2),
                                    progress=lambda f, m="", p=None: reports.append((f, m)))
    assert [r.method for r in results] == ["lrp.epsilon_plus_flat", "gradient.sensitivity"]
    assert all(r.target == 0 and r.score == pytest.approx(results[0].score) for r in results)
    np.testing.assert_allclose(results[0].curves["random"], results[1].curves["random"])  # same baseline
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("2 of 2" in m for _, m in reports)
    assert json.loads(json.dumps(results[0].to_dict()))["aopc_morf"] == pytest.approx(results[0].aopc("morf"))


def test_bad_settings_are_plain_errors():
    model, image = planted_model(), bright_image()
    with pytest.raises(InputError, match="Unknown removal order"):
        image_faithfulness(model, image, np.ones((16, 16)), 0, FlipSettings(orders=("sideways",)))
    with pytest.raises(InputError, match="Unknown fill"):
        image_faithfulness(model, image, np.ones((16, 16)), 0, FlipSettings(fill="pink"))


# --- audio -----------------------------------------------------------------------------------


def test_audio_curves_start_at_the_clip_score_and_end_at_the_filled_spectrogram():
    from xaidesk.data.audio import load_audio
    from xaidesk.explain.audio import explain_audio
    from xaidesk.models.audio import clip_samples, window_inputs
    from xaidesk.models import list_builtin_models, load_model

    sample = next(m for m in list_builtin_models() if m["spec"] == "demo:sounds")["samples"][1]
    model = load_model("demo:sounds")
    audio = load_audio(sample)
    explanation = explain_audio(model, audio, "gradient.input_x_gradient")
    target = explanation.target.index
    result = audio_faithfulness(model, audio, explanation.relevance, target,
                                FlipSettings(steps=5, patch=16, fill="black", random_orders=1))
    assert result.curves["morf"][0] == pytest.approx(explanation.score, rel=1e-4)
    frontend = model.frontend
    log_mel = frontend.log_mel(clip_samples(audio, frontend))
    silent = np.full_like(log_mel, np.log(frontend.log_offset))
    with torch.no_grad():
        expected = model.module(window_inputs(silent, frontend)[0])[:, target].mean().item()
    for order in ("morf", "lerf", "random"):
        assert result.curves[order][-1] == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert result.areas()["aopc_morf"] > result.areas()["aopc_lerf"]
    with pytest.raises(InputError, match="does not match"):
        audio_faithfulness(model, audio, explanation.relevance[:, :-1], target)


# --- tables ----------------------------------------------------------------------------------


def _table(n=40, seed=0):
    """Three blobs in the first two features, noise in the other two; y linear in the features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, :2] += 4.0 * np.array([[0, 0], [1, 0], [0, 1]])[np.arange(n) % 3]
    y = X @ np.array([3.0, -2.0, 0.0, 0.5]) + 0.1 * rng.normal(size=n)
    return X, y


def naive_softmin(X, row, point, gamma):
    d = ((np.delete(X, row, axis=0) - point) ** 2).sum(1)
    return -np.log(np.mean(np.exp(-gamma * d))) / gamma


@pytest.mark.parametrize("method,params", [("neon.knn", {"gamma": "0.5"}), ("neon.kmeans", {"clusters": "3"}),
                                           ("supervised.linear", {"model": "linear"})])
def test_table_curves_recompute_the_method_score(method, params):
    from xaidesk.explain.table import explain_table

    X, y = _table()
    result = explain_table(X, method, params, target=y)
    faith = table_faithfulness(result, FlipSettings(random_orders=2), target_values=y)
    assert faith.curves["morf"][0] == pytest.approx(result.scores.mean(), rel=1e-5)
    assert len(faith.fractions) == 5  # steps capped at the 4 features
    assert faith.areas()["aopc_morf"] > faith.areas()["aopc_random"] > faith.areas()["aopc_lerf"]
    means = result.transformed.mean(axis=0)
    if method == "neon.knn":
        # every feature at its column mean: the same point for all rows, scored without the row itself
        last = np.mean([naive_softmin(result.transformed, r, means, 0.5) for r in range(len(X))])
        assert faith.curves["morf"][-1] == pytest.approx(last, rel=1e-5)
        # one step of MoRF for row 0, by hand
        rel0 = result.relevance[0]
        point = result.transformed[0].copy()
        point[np.argmax(rel0)] = means[np.argmax(rel0)]
        single = table_faithfulness(result, FlipSettings(orders=("morf",)), max_rows=1)
        assert single.curves["morf"][1] == pytest.approx(naive_softmin(result.transformed, 0, point, 0.5), rel=1e-5)
    if method == "supervised.linear":
        coef = np.asarray(result.extras["coefficients"])
        assert faith.curves["morf"][-1] == pytest.approx(means @ coef + result.extras["intercept"], rel=1e-5)


def test_table_mlp_is_retrained_reproducibly_and_evaluated():
    from xaidesk.explain.table import explain_table

    X, y = _table(60)
    result = explain_table(X, "supervised.mlp_lrp", {"epochs": "30", "hidden": "8"}, target=y)
    faith = table_faithfulness(result, FlipSettings(random_orders=2), target_values=y)
    assert faith.curves["morf"][0] == pytest.approx(result.scores.mean(), rel=1e-4)
    assert faith.areas()["aopc_morf"] > faith.areas()["aopc_lerf"]


def test_a_readable_model_is_evaluated_on_its_own_fitted_model():
    from xaidesk.explain.table import explain_table
    from xaidesk.tabular import load_builtin_methods

    load_builtin_methods()

    X, y = _table(80)
    labels = (y > np.median(y)).astype(int)
    result = explain_table(X, "tabular.readable", {"model": "logistic", "explained_rows": 30}, target=labels)
    faith = table_faithfulness(result, FlipSettings(random_orders=2))
    explained = result.extras["explained_positions"]
    assert faith.curves["morf"][0] == pytest.approx(result.scores[explained].mean(), rel=1e-6)
    fitted = result.extras["fitted"]
    all_means = np.tile(result.transformed.mean(axis=0), (len(explained), 1))
    assert faith.curves["morf"][-1] == pytest.approx(fitted.predict_output(all_means).mean(), rel=1e-6)
    assert faith.areas()["aopc_morf"] > faith.areas()["aopc_random"] > faith.areas()["aopc_lerf"]


# --- CLI -------------------------------------------------------------------------------------


def _digit():
    from xaidesk.models import list_builtin_models

    return next(m for m in list_builtin_models() if m["spec"] == "demo:digits")["samples"][0]


def test_cli_writes_curves_areas_plot_and_summary(tmp_path):
    out = tmp_path / "faith"
    code = main(["evaluate", "image", str(_digit()), "--model", "demo:digits",
                 "--methods", "lrp.epsilon_plus_flat,gradient.sensitivity", "--steps", "5", "--patch", "4",
                 "--fill", "blur", "--random-orders", "2", "--param", "lrp.epsilon_plus_flat:epsilon=1e-5",
                 "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["areas.csv", "curves.csv", "curves.png", "summary.json"]
    curves = (out / "curves.csv").read_text().splitlines()
    assert curves[0] == "method,order,fraction,score" and len(curves) == 1 + 2 * 3 * 6
    areas = (out / "areas.csv").read_text().splitlines()
    assert areas[0].startswith("method,target,target_label,score,auc_morf,auc_lerf,auc_random,aopc_morf")
    assert [line.split(",")[0] for line in areas[1:]] == ["lrp.epsilon_plus_flat", "gradient.sensitivity"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["fill"] == "blur" and summary["results"][0]["settings"]["patch_resolved"] == 4
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_table_and_bad_param(tmp_path, capsys):
    X, y = _table()
    csv = tmp_path / "t.csv"
    csv.write_text("a,b,c,d,y\n" + "\n".join(",".join(f"{v:.6f}" for v in [*row, t]) for row, t in zip(X, y)) + "\n")
    out = tmp_path / "tab"
    assert main(["evaluate", "table", str(csv), "--methods", "supervised.linear", "--target-column", "y",
                 "--param", "model=linear", "--order", "morf,random", "--out", str(out)]) == 0
    areas = (out / "areas.csv").read_text().splitlines()[1].split(",")
    assert areas[0] == "supervised.linear" and areas[5] == ""  # no LeRF curve requested
    assert main(["evaluate", "table", str(csv), "--methods", "neon.knn", "--param", "nonsense=1",
                 "--out", str(tmp_path / "bad")]) == 1
    assert "none of the chosen methods" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_cli_cancel_writes_nothing(tmp_path, monkeypatch, capsys):
    import xaidesk.commands.evaluate as command

    class CancelSoon(CancelToken):
        checks = 0

        def check(self):
            CancelSoon.checks += 1
            if CancelSoon.checks > 5:
                self.cancel()
            super().check()

    monkeypatch.setattr(command, "CancelToken", CancelSoon)
    out = tmp_path / "never"
    code = main(["evaluate", "image", str(_digit()), "--model", "demo:digits", "--methods", "gradient.sensitivity",
                 "--steps", "40", "--patch", "1", "--out", str(out)])
    assert code == 130 and not out.exists()
    assert not any(tmp_path.iterdir())
    assert "cancelled" in capsys.readouterr().err


def test_explain_evaluate_still_writes_pixel_flipping(tmp_path):
    out = tmp_path / "explained"
    assert main(["explain", "image", str(_digit()), "--model", "demo:digits", "--method", "lrp.epsilon_plus_flat",
                 "--evaluate", "--out", str(out)]) == 0
    rows = (out / "pixel_flipping.csv").read_text().splitlines()
    assert rows[0] == "fraction_removed,score,random_order_score" and len(rows) == 22
    flipping = json.loads((out / "summary.json").read_text())["pixel_flipping"]
    assert flipping["auc"] < flipping["random_auc"] and flipping["aopc"] > flipping["random_aopc"]


def test_steps_never_exceed_the_number_of_removable_units():
    from xaidesk.evaluate.faithfulness import removal_counts

    assert removal_counts(3, 20).tolist() == [0, 1, 2, 3]
    assert removal_counts(100, 4).tolist() == [0, 25, 50, 75, 100]
    counts = removal_counts(7, 5)
    assert counts[0] == 0 and counts[-1] == 7 and len(set(counts.tolist())) == len(counts)


# --- issue 12: bounded settings ------------------------------------------------------------------


@pytest.mark.parametrize("settings, message", [
    (FlipSettings(seed=-1), "seed must be a whole number from 0"),
    (FlipSettings(seed=2**32), "seed must be a whole number from 0"),
    (FlipSettings(random_orders=1_000_000), "At most 100 random orders"),
])
def test_unbounded_settings_are_refused_before_any_work(settings, message):
    with pytest.raises(InputError, match=message):
        settings.checked()


def test_a_patch_larger_than_the_image_is_refused_without_allocating_it():
    from xaidesk.evaluate.pixel_flipping import patch_scores

    model, image = planted_model(), bright_image()
    with pytest.raises(InputError, match="larger than the input itself"):
        image_faithfulness(model, image, np.ones((16, 16)), 0, FlipSettings(patch=100_000))
    with pytest.raises(InputError, match="at most 16"):
        patch_scores(np.ones((16, 9)), 17)
    assert patch_scores(np.ones((16, 9)), 16).shape == (1, 1)


@pytest.mark.parametrize("option, says", [("--seed=-1", "seed"), ("--patch=100000", "patch side of 100000"),
                                          ("--random-orders=1000000", "random orders")])
def test_cli_refuses_unbounded_evaluate_options_before_explaining(tmp_path, capsys, monkeypatch, option, says):
    import xaidesk.evaluate as evaluate

    def must_not_run(*args, **kwargs):
        raise AssertionError("the methods ran before the options were checked")

    monkeypatch.setattr(evaluate, "compare_image_methods", must_not_run)
    out = tmp_path / "never"
    code = main(["evaluate", "image", str(_digit()), "--model", "demo:digits", "--methods", "gradient.sensitivity",
                 option, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and says in err and "Traceback" not in err
    assert not out.exists()
