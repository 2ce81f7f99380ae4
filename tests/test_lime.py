"""LIME on superpixels: agreement with the ``lime`` package, planted evidence, refit, cancel."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from xaidesk.core import CancelToken, Cancelled, get_method
from xaidesk.explain import explain_image
from xaidesk.explain.lime import (
    display_image, fit_surrogate, kernel_weights, paint, refit_lime, sample_design, segment_image,
)
from xaidesk.models.preprocessing import IMAGENET

import helpers

SIZE = 32


class Counting(nn.Module):
    """Counts forward passes (calls and samples) of the wrapped network."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.calls = 0
        self.samples = 0

    def forward(self, x):
        self.calls += 1
        self.samples += x.shape[0]
        return self.net(x)


def tiny_net(scale=3.0):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(4), nn.Flatten(), nn.Linear(4 * 8 * 8, 3),
    ).eval()
    with torch.no_grad():
        net[-1].weight.mul_(scale)
    return net


loaded = partial(helpers.loaded, size=(SIZE, SIZE), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                 class_names=["a", "b", "c"])
run = partial(helpers.run, "lime")


def photo(size=SIZE) -> np.ndarray:
    from skimage import data, transform

    image = transform.resize(data.astronaut(), (size, size), anti_aliasing=True)
    return (image * 255).round().astype(np.uint8)


# --- the reference implementation -----------------------------------------------------------------


@pytest.mark.parametrize("hide", ["mean", "black"])
def test_weights_agree_with_the_lime_package_on_the_same_samples(hide):
    lime_image = pytest.importorskip("lime.lime_image")
    net = tiny_net()
    # Equal mean/std per channel so that lime's single scalar hide colour equals our per-channel black.
    model = loaded(net, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = model.preprocessing.to_tensor(photo())
    seed, n, target = 7, 400, 1
    ours = run(model, x, target, num_samples=n, sampling="lime", seed=seed, hide=hide, n_segments=25)
    segments = ours.extras["segments"]
    num_segments = ours.extras["num_segments"]
    assert 10 <= num_segments <= 40

    image = x[0].permute(1, 2, 0).numpy().copy()  # lime works on (H, W, C); here the model's own values
    seen = []

    def classifier_fn(images):
        seen.append(np.asarray(images).copy())
        batch = torch.from_numpy(np.asarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
        with torch.no_grad():
            return torch.softmax(net(batch).double(), 1).float().numpy()

    explainer = lime_image.LimeImageExplainer(kernel_width=0.25, feature_selection="none", random_state=seed)
    reference = explainer.explain_instance(
        image, classifier_fn, labels=(target,), top_labels=None, hide_color=None if hide == "mean" else -2.0,
        num_features=num_segments, num_samples=n, batch_size=10, segmentation_fn=lambda img: segments,
        random_seed=0)

    # The exact on/off patterns lime drew, recovered from the images it evaluated, are ours.
    images = np.concatenate(seen)
    recovered = np.stack([[np.array_equal(img[segments == j], image[segments == j]) for j in range(num_segments)]
                          for img in images]).astype(np.uint8)
    np.testing.assert_array_equal(recovered, ours.extras["design"])

    theirs = np.zeros(num_segments)
    for feature, weight in reference.local_exp[target]:
        theirs[feature] = weight
    mine = np.asarray(ours.extras["segment_weights"])
    scale = np.abs(theirs).max()
    assert scale > 1e-4  # the test is not trivially satisfied by all-zero weights
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-4 * scale)
    assert ours.extras["intercept"] == pytest.approx(reference.intercept[target], abs=1e-4 * scale)
    assert ours.extras["r2"] == pytest.approx(reference.score, abs=1e-4)
    top5_theirs = [f for f, w in sorted(reference.local_exp[target], key=lambda fw: -fw[1])[:5]]
    assert ours.extras["top_positive"][:5] == top5_theirs
    # lime's pixel map for the positive evidence covers the same superpixels.
    _, mask = reference.get_image_and_mask(target, positive_only=True, num_features=5, hide_rest=False)
    assert set(np.unique(segments[mask > 0])) == set(top5_theirs)


def test_kernel_and_distance_match_lime():
    from sklearn.metrics import pairwise_distances

    design = sample_design(200, 17, "lime", 3)
    distances = pairwise_distances(design, design[0].reshape(1, -1), metric="cosine").ravel()
    expected = np.sqrt(np.exp(-(distances**2) / 0.3**2))
    np.testing.assert_allclose(kernel_weights(design, 0.3), expected, rtol=1e-9, atol=1e-12)
    reference = np.random.RandomState(3).randint(0, 2, 200 * 17).reshape(200, 17)
    reference[0] = 1
    np.testing.assert_array_equal(design, reference)


# --- sampling schemes -----------------------------------------------------------------------------


@pytest.mark.parametrize("sampling", ["lime", "orthogonal", "antithetic", "stratified"])
def test_every_scheme_samples_lime_distribution(sampling):
    s, n = 12, 20001
    design = sample_design(n, s, sampling, 1)
    assert design.dtype == np.uint8 and design.shape == (n, s)
    assert design[0].all()
    rest = design[1:].astype(np.float64)
    # Each superpixel is on with probability 1/2, independently of the others.
    np.testing.assert_allclose(rest.mean(0), 0.5, atol=0.02)
    corr = np.corrcoef(rest.T)
    assert np.abs(corr[~np.eye(s, dtype=bool)]).max() < 0.04
    sizes = np.bincount(rest.sum(1).astype(int), minlength=s + 1) / (n - 1)
    from scipy.stats import binom

    np.testing.assert_allclose(sizes, binom.pmf(np.arange(s + 1), s, 0.5), atol=0.01)
    np.testing.assert_array_equal(sample_design(n, s, sampling, 1), design)  # reproducible
    if sampling == "antithetic":
        np.testing.assert_array_equal(design[1:-1:2] + design[2::2], 1)
    if sampling == "orthogonal":  # blocks of 16 (> S = 12): balanced, pairwise uncorrelated columns
        block = 2.0 * design[1:17] - 1
        np.testing.assert_array_equal(block.T @ block, 16 * np.eye(s))


def test_all_schemes_converge_to_the_same_surrogate():
    """Against the exact population surrogate: all 2^S patterns, each with probability 2^-S."""
    torch.manual_seed(0)
    s = 6
    w_true = torch.randn(s, dtype=torch.float64)

    def f(z):  # a non-linear function of the on/off pattern, with interactions
        return torch.sigmoid(z @ w_true + 1.5 * z[:, 0] * z[:, 1] - z[:, 2] * z[:, 3] * z[:, 4])

    all_patterns = np.array(np.meshgrid(*[[0, 1]] * s, indexing="ij")).reshape(s, -1).T.astype(np.uint8)
    exact, _, _ = fit_surrogate(all_patterns, f(torch.from_numpy(all_patterns).double()).numpy(),
                                kernel_weights(all_patterns, 0.25), alpha=0.0)
    for sampling in ("lime", "orthogonal", "antithetic", "stratified"):
        design = sample_design(40001, s, sampling, 5)
        estimate, _, _ = fit_surrogate(design, f(torch.from_numpy(design).double()).numpy(),
                                       kernel_weights(design, 0.25), alpha=1.0)
        np.testing.assert_allclose(estimate, exact, atol=0.01 * np.abs(exact).max(), err_msg=sampling)


# --- planted evidence -----------------------------------------------------------------------------


class Planted(nn.Module):
    """Class 0 responds only to brightness and texture inside rows 4..12, columns 18..28."""

    box = (slice(4, 12), slice(18, 28))

    def forward(self, x):
        region = x[:, :, self.box[0], self.box[1]]
        texture = (region[:, :, 1:, :] - region[:, :, :-1, :]).pow(2).mean((1, 2, 3))
        brightness = region.mean((1, 2, 3))
        evidence = 2.0 * texture + brightness
        return torch.stack([evidence, torch.zeros_like(evidence), -evidence], 1)


def planted_image():
    rng = np.random.default_rng(0)
    image = np.full((SIZE, SIZE, 3), 90, dtype=np.float64) + rng.normal(0, 4, (SIZE, SIZE, 3))
    rows, cols = np.mgrid[4:12, 18:28]
    image[4:12, 18:28] = np.where(((rows + cols) % 2 == 0)[..., None], 250, 150)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("hide", ["mean", "black", "blur"])
def test_planted_evidence_ranks_first(hide):
    model = loaded(Planted())
    x = model.preprocessing.to_tensor(planted_image())
    result = run(model, x, 0, num_samples=300, hide=hide, segmentation="felzenszwalb", scale=50, min_size=10)
    segments = result.extras["segments"]
    weights = np.asarray(result.extras["segment_weights"])
    inside = np.zeros(segments.shape, dtype=bool)
    inside[Planted.box] = True
    share = np.array([inside[segments == j].mean() for j in range(len(weights))])
    assert share.max() > 0.9  # the evidence has superpixels of its own
    top = result.extras["top_positive"][0]
    assert share[top] > 0.5
    outside = share == 0
    assert outside.sum() >= 3
    assert np.abs(weights[outside]).max() < 0.2 * weights[top]
    row, col = np.unravel_index(np.argmax(result.relevance), result.relevance.shape)
    assert inside[row, col]
    assert result.extras["r2"] > 0.5


# --- other classes from stored outputs, pipeline, summary -----------------------------------------


def test_refit_for_another_class_equals_a_fresh_run_without_forward_passes():
    counting = Counting(tiny_net())
    model = loaded(counting)
    image = photo(48)[:, 6:42]  # (48, 36): the pipeline resizes it to 32 x 32
    first = explain_image(model, image, "lime", target=0, params={"num_samples": 120, "seed": 3, "n_segments": 12})
    assert first.relevance.shape == (48, 36) and first.extras["segments"].shape == (48, 36)
    calls = counting.calls
    for other in (1, 2):
        refitted = refit_lime(first, other, class_label=model.label(other))
        assert counting.calls == calls  # no forward pass
        fresh = explain_image(model, image, "lime", target=other, params={"num_samples": 120, "seed": 3, "n_segments": 12})
        calls = counting.calls
        assert refitted.target.index == other and refitted.target.label == "bc"[other - 1]
        # Both paint the weights on the superpixels mapped to the image (nearest neighbour),
        # so a refit and a fresh run agree pixel for pixel, borders included.
        segments = fresh.extras["segments"]
        np.testing.assert_array_equal(segments, first.extras["segments"])
        np.testing.assert_allclose(refitted.relevance, paint(segments, fresh.extras["segment_weights"]),
                                   rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(refitted.relevance, fresh.relevance, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(refitted.extras["segment_weights"], fresh.extras["segment_weights"],
                                   rtol=1e-6, atol=1e-9)
        assert refitted.extras["top_positive"] == fresh.extras["top_positive"]
        assert refitted.extras["top_negative"] == fresh.extras["top_negative"]
        assert refitted.extras["r2"] == pytest.approx(fresh.extras["r2"], abs=1e-9)
        assert refitted.score == pytest.approx(fresh.score, rel=1e-5)
    # In model-input coordinates too.
    x = model.preprocessing.to_tensor(image)
    direct = run(model, x, 0, num_samples=120, seed=3, n_segments=12)
    back = refit_lime(refit_lime(direct, 2), 0)
    np.testing.assert_allclose(back.relevance, direct.relevance, rtol=1e-6, atol=1e-9)
    assert back.relevance.shape == (SIZE, SIZE)


def test_extras_relevance_and_summary():
    model = loaded(tiny_net())
    x = model.preprocessing.to_tensor(photo())
    result = run(model, x, 2, num_samples=101, top_k=3, batch_size=16)
    e = result.extras
    s = e["num_segments"]
    assert e["segments"].shape == (SIZE, SIZE) and e["segments"].min() == 0 and e["segments"].max() == s - 1
    assert e["design"].shape == (101, s) and e["design"].dtype == np.uint8
    assert e["outputs"].shape == (101, 3) and e["outputs"].dtype == np.float32
    np.testing.assert_allclose(e["outputs"].sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(e["logits"][0], tiny_net()(x)[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert e["sample_weights"].shape == (101,) and e["sample_weights"][0] == 1.0
    assert e["n_used"] == 101 and e["sampling"] == "orthogonal" and len(e["segment_weights"]) == s
    assert len(e["top_positive"]) <= 3 and len(e["top_negative"]) <= 3
    w = np.asarray(e["segment_weights"])
    assert all(w[i] > 0 for i in e["top_positive"]) and all(w[i] < 0 for i in e["top_negative"])
    if e["top_positive"]:
        assert w[e["top_positive"][0]] == w.max()
    np.testing.assert_allclose(result.relevance, w[e["segments"]].astype(np.float32))
    summary = json.loads(json.dumps(result.summary()))
    assert summary["extras"]["num_segments"] == s and "r2" in summary["extras"]
    assert "design" not in summary["extras"] and "outputs" not in summary["extras"]
    # Same seed, same result; the batch size does not matter.
    again = run(model, x, 2, num_samples=101, top_k=3, batch_size=7)
    np.testing.assert_allclose(again.relevance, result.relevance, rtol=1e-5, atol=1e-7)


# --- cancel and partial results -------------------------------------------------------------------


def test_cancel_returns_within_one_batch_with_a_usable_partial():
    counting = Counting(tiny_net())
    model = loaded(counting)
    x = model.preprocessing.to_tensor(photo())
    token = CancelToken()
    partials = []
    at_cancel = {}

    def progress(fraction, message="", partial=None):
        if partial is not None:
            partials.append(partial)
            at_cancel["calls"] = counting.calls
            token.cancel()

    with pytest.raises(Cancelled) as caught:
        run(model, x, 1, token=token, progress=progress, num_samples=400, batch_size=8)
    assert counting.calls == at_cancel["calls"]  # no batch after the cancel
    partial = caught.value.partial
    assert partial is not None and not partial.complete
    n_done = partial.extras["n_done"]
    assert 0 < n_done < 400 and n_done == counting.samples and n_done % 8 == 0
    assert partial.extras["design"].shape[0] == n_done
    assert partials[0].extras["n_done"] == n_done
    assert partial.relevance.shape == (SIZE, SIZE) and np.abs(partial.relevance).sum() > 0
    assert np.isfinite(partial.extras["r2"])
    other = refit_lime(partial, 2)  # the partial can explain other classes too
    assert other.target.index == 2 and not other.complete and np.isfinite(other.relevance).all()


def test_partials_refine_and_report_n_done():
    model = loaded(tiny_net())
    x = model.preprocessing.to_tensor(photo())
    seen = []
    result = run(model, x, 0, num_samples=200, batch_size=10,
                 progress=lambda f, m="", p=None: seen.append(p.extras["n_done"]) if p is not None else None)
    assert seen and seen == sorted(seen) and seen[-1] < 200 and result.complete
    assert result.extras["n_done"] == 200


# --- superpixels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_default_segmentation_gives_30_to_150_superpixels_on_photos(name):
    from skimage import data

    x = IMAGENET.to_tensor(getattr(data, name)())
    info = get_method("lime")
    defaults = info.defaults()
    image = display_image(x, IMAGENET)
    assert image.shape == (224, 224, 3) and 0 <= image.min() and image.max() <= 1
    counts = {kind: int(segment_image(image, {**defaults, "segmentation": kind}).max()) + 1
              for kind in ("slic", "quickshift", "felzenszwalb")}
    assert 30 <= counts[defaults["segmentation"]] <= 150
    assert all(20 <= c <= 200 for c in counts.values()), counts


def test_grayscale_models_are_segmented_on_a_replicated_image():
    net = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 3)).eval()
    model = loaded(net, channels=1, mean=0.5, std=0.5)
    pre = model.preprocessing
    image = photo()
    x = pre.to_tensor(image)
    shown = display_image(x, pre)
    assert shown.shape == (SIZE, SIZE, 3)
    np.testing.assert_allclose(shown[..., 0], shown[..., 2])
    np.testing.assert_allclose(shown[..., 0], (x[0, 0].numpy() * 0.5 + 0.5).clip(0, 1), atol=1e-6)
    for hide in ("mean", "black", "blur"):
        result = explain_image(model, image, "lime", params={"num_samples": 50, "hide": hide})
        assert result.relevance.shape == (SIZE, SIZE) and np.isfinite(result.relevance).all()
