"""ClArC correction: concept directions, P-ClArC and A-ClArC on a network that learned a planted corner mark,
artefact sources (SpRAy cluster, ticked files, a drawn region), verification, the saved model and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import helpers
from xaidesk.cli import main
from xaidesk.core import CancelToken, Cancelled, InputError, MethodError, ModelError
from xaidesk.data.scenes import MARK_BOX, make_mark_demo_set
from xaidesk.evaluate.spray import load_run_heatmaps, spray, write_spray_results
from xaidesk.models import load_model
from xaidesk.models.edited import ProjectedLayer
from xaidesk.repair.artefact import Artefact, artefact_from_region, box_mask
from xaidesk.repair.cav import default_clarc_layer, fit_cav, layer_activations
from xaidesk.repair.clarc import a_clarc, p_clarc
from xaidesk.repair.data import ImageSet, generated_clever_hans_set
from xaidesk.repair.result import write_repair_outputs
from xaidesk.repair.sources import artefact_from_files, artefact_from_image_region, artefact_from_spray
from xaidesk.repair.training import TrainingSettings

SIDE = 16
MARK = (0, 0, 4, 4)


def scenes(n: int, seed: int, mark_rate=(0.85, 0.1)):
    """Noise pictures whose class shows as a faint red (class 0) or blue (class 1) square somewhere; a corner
    mark is drawn on most class-0 pictures and few class-1 ones, as a shortcut to learn."""
    g = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    x = g.normal(0, 0.3, (n, 3, SIDE, SIDE)).astype(np.float32)
    for i, label in enumerate(labels):
        r, c = g.integers(5, 12, 2)
        x[i, 0 if label == 0 else 2, r - 2:r + 2, c - 2:c + 2] += 0.5
    marked = g.random(n) < np.where(labels == 0, mark_rate[0], mark_rate[1])
    x = torch.from_numpy(x)
    x[torch.from_numpy(marked)] = with_mark(x[torch.from_numpy(marked)])
    return ImageSet(x, torch.from_numpy(labels), [])


def with_mark(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    top, left, h, w = MARK
    x[:, :, top:top + h, left:left + w] = 2.0
    x[:, 1, top + 1:top + h - 1, left + 1:left + w - 1] = -2.0
    return x


@pytest.fixture(scope="module")
def shortcut():
    """A tiny CNN trained where the corner mark predicts class 0: it calls unmarked class-0 pictures wrong."""
    torch.manual_seed(0)
    data = scenes(400, 0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(6):
        order = torch.randperm(len(data))
        for start in range(0, len(data), 32):
            i = order[start:start + 32]
            loss = nn.functional.cross_entropy(net(data.inputs[i]), data.labels[i])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model = helpers.loaded(net, SIDE, class_names=["red", "blue"])
    clean = scenes(120, 2, (0, 0)).of_class(0)
    carrying = ImageSet(with_mark(clean.inputs), clean.labels, [])
    artefact = artefact_from_region(carrying.inputs[0], MARK, description="the corner mark")
    return model, artefact, carrying, clean, scenes(200, 1, (0, 0))


@pytest.fixture(scope="module")
def demo():
    return load_model("demo:clever_hans")


def test_fit_cav_recovers_a_planted_direction_with_both_kinds():
    g = np.random.default_rng(0)
    planted = g.normal(size=20)
    planted /= np.linalg.norm(planted)
    clean = g.normal(size=(200, 20))
    artefact = g.normal(size=(200, 20)) + 3.0 * planted
    for kind in ("pattern", "logistic"):
        direction, info = fit_cav(artefact, clean, kind)
        assert abs(np.linalg.norm(direction) - 1) < 1e-5
        assert direction @ planted > 0.9, kind
        assert info["separation_accuracy"] > 0.9 and info["kind"] == kind
    naive = artefact.mean(0) - clean.mean(0)
    assert np.allclose(fit_cav(artefact, clean, "pattern")[0], naive / np.linalg.norm(naive), atol=1e-6)
    with pytest.raises(InputError, match="at least 2"):
        fit_cav(artefact[:1], clean)
    with pytest.raises(InputError, match="Unknown kind"):
        fit_cav(artefact, clean, "svm")


def test_p_clarc_removes_exactly_the_concept_direction(shortcut):
    model, artefact, carrying, clean, _ = shortcut
    layer = default_clarc_layer(model)
    assert layer == "5"
    result = p_clarc(model, artefact, carrying, clean, target=0)
    projected = result.model.module.get_submodule(layer)
    assert isinstance(projected, ProjectedLayer) and not isinstance(model.module.get_submodule(layer), ProjectedLayer)
    before_clean = layer_activations(model, layer, clean.inputs).double()
    before_carry = layer_activations(model, layer, carrying.inputs).double()
    direction = before_carry.mean(0) - before_clean.mean(0)
    direction /= direction.norm()
    reference = float((before_clean @ direction).mean())
    assert torch.allclose(projected.projection.direction.double(), direction, atol=1e-5)
    assert abs(float(projected.projection.reference) - reference) < 1e-4
    x = torch.cat([carrying.inputs[:10], clean.inputs[:10]])
    before = layer_activations(model, layer, x).double()
    after = layer_activations(result.model, layer, x).double()
    assert torch.allclose(after @ direction, torch.full((20,), reference, dtype=torch.float64), atol=1e-4)
    orthogonal = lambda a: a - (a @ direction)[:, None] * direction  # noqa: E731
    assert torch.allclose(orthogonal(after), orthogonal(before), atol=1e-4)
    again = projected.projection(after.float().view(20, 8, 4, 4)).flatten(1).double()
    assert torch.allclose(again, after, atol=1e-5)
    assert result.edits[0]["kind"] == "p-clarc" and "corner mark" in result.edits[0]["summary"]
    assert result.provenance["artefact"]["origin"]["box"] == list(MARK)


def snapshot(model):
    return {k: v.clone() for k, v in model.module.state_dict().items()}


def unchanged(model, state) -> bool:
    now = model.module.state_dict()
    return now.keys() == state.keys() and all(torch.equal(now[k], v) for k, v in state.items())


def test_p_clarc_on_a_learned_shortcut_moves_relevance_off_the_mark(shortcut):
    model, artefact, carrying, clean, held_out = shortcut
    state = snapshot(model)
    result = p_clarc(model, artefact, carrying, clean, held_out=held_out, target=0)
    assert unchanged(model, state)
    assert any("SpRAy figures are on 100 held-out images" in note for note in result.notes)
    figures = {c.name: c for c in result.comparisons}
    assert figures["accuracy_target"].before < 0.85  # the shortcut costs accuracy on unmarked class-0 pictures
    share = figures["artefact_relevance_share"]
    assert share.before > 0.4 and share.after < share.before - 0.15
    assert figures["accuracy_others_pasted"].before < 0.3 and figures["accuracy_others_pasted"].after > 0.9
    assert figures["accuracy_target"].after >= figures["accuracy_target"].before - 0.02
    assert figures["accuracy"].after >= figures["accuracy"].before - 0.02
    assert figures["spray_ari"].after < figures["spray_ari"].before
    assert figures["spray_fisher"].after < figures["spray_fisher"].before
    picture = result.images["before_after.png"]
    assert picture.dtype == np.uint8 and picture.shape[1] > 2 * (picture.shape[0] - 18) - 20  # two maps under captions


def test_a_clarc_on_a_learned_shortcut_raises_accuracy_without_the_mark(shortcut, tmp_path):
    model, artefact, _, _, held_out = shortcut
    train = scenes(400, 3)
    settings = TrainingSettings(epochs=3, learning_rate=1e-2, seed=0)
    state = snapshot(model)
    result = a_clarc(model, artefact, train, target=0, settings=settings, held_out=held_out,
                     checkpoint_dir=tmp_path / "checkpoints")
    figures = {c.name: c for c in result.comparisons}
    assert figures["accuracy_target"].after > figures["accuracy_target"].before + 0.15
    assert figures["artefact_relevance_share"].after < figures["artefact_relevance_share"].before - 0.1
    assert figures["accuracy_others_pasted"].after > 0.8
    assert (tmp_path / "checkpoints" / "checkpoint.pt").is_file()
    assert result.edits[0]["kind"] == "a-clarc" and result.edits[0]["paste_share"] == 0.5
    assert result.tables[0].name == "training_history.csv" and [row[0] for row in result.tables[0].rows] == [1, 2, 3]
    assert unchanged(model, state)
    x = held_out.inputs[:4]
    assert not torch.allclose(model.module(x), result.model.module(x))


def test_refusals_are_plain(shortcut):
    model, artefact, carrying, clean, held_out = shortcut
    with pytest.raises(ModelError, match="no layer called 'nope'; choose one of: 0, 1, 2, 3, 4, 5, 6, 7"):
        p_clarc(model, artefact, carrying, clean, layer="nope", target=0)
    with pytest.raises(InputError, match="its classes are 0 red, 1 blue"):
        p_clarc(model, artefact, carrying, clean, target=2)
    with pytest.raises(InputError, match="at least 2 images"):
        p_clarc(model, artefact, carrying.subset([0]), clean, target=0)
    with pytest.raises(InputError, match="not a class"):
        p_clarc(model, artefact, carrying, clean, target=5)
    sourceless = Artefact(artefact.mask)
    with pytest.raises(InputError, match="needs an image to copy it from"):
        a_clarc(model, sourceless, held_out, target=0, settings=TrainingSettings(epochs=1))
    with pytest.raises(ModelError, match="for audio"):
        p_clarc(replace(model, modality="audio"), artefact, carrying, clean, target=0)
    with pytest.raises(ModelError, match="not a PyTorch network xaidesk can change"):
        p_clarc(replace(model, is_torchscript=True), artefact, carrying, clean, target=0)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        p_clarc(model, artefact, carrying, clean, target=0, token=token)
    wrong_size = artefact_from_region(torch.zeros(3, 8, 8), (0, 0, 2, 2))
    with pytest.raises(InputError, match="mark it again"):
        a_clarc(model, wrong_size, held_out, target=0, settings=TrainingSettings(epochs=1))


class SharedReLU(nn.Module):
    """One ReLU module run twice in each forward pass."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * SIDE * SIDE, 2))

    def forward(self, x):
        return self.head(self.relu(self.conv2(self.relu(self.conv1(x)))))


def test_a_layer_used_twice_in_one_pass_is_refused(shortcut):
    _, artefact, carrying, clean, _ = shortcut
    torch.manual_seed(0)
    model = helpers.loaded(SharedReLU(), SIDE, class_names=["red", "blue"])
    with pytest.raises(MethodError, match="'relu' is used 2 times in one pass; choose a layer used once"):
        layer_activations(model, "relu", carrying.inputs)
    with pytest.raises(MethodError, match="used 2 times"):
        p_clarc(model, artefact, carrying, clean, layer="relu", target=0)
    assert layer_activations(model, "conv2", carrying.inputs[:5]).shape == (5, 4 * SIDE * SIDE)


def test_p_clarc_without_an_image_to_paste_says_its_spray_figures_are_in_sample(shortcut):
    model, artefact, carrying, clean, held_out = shortcut
    result = p_clarc(model, Artefact(artefact.mask), carrying.subset(range(12)),
                     clean.subset(range(12)), held_out=held_out.subset(range(40)), target=0)
    assert any("fitted on, not on held-out ones" in note for note in result.notes)
    assert {"spray_ari", "spray_fisher"} <= {c.name for c in result.comparisons}


def _demo_pictures(tmp_path, n=12):
    images, marked = make_mark_demo_set(n, seed=3)
    source = tmp_path / "pictures"
    (source / "horse").mkdir(parents=True)
    paths = []
    for i, image in enumerate(images):
        paths.append(source / "horse" / f"img_{i:03d}.png")
        Image.fromarray(image).save(paths[-1])
    return source, paths, marked


def _overlaps_tag(mask: np.ndarray) -> bool:
    tag = box_mask(mask.shape, MARK_BOX)
    return float((mask * tag).sum()) > 0.5 * float(mask.sum())


def test_artefact_from_a_spray_cluster(demo, tmp_path):
    source, paths, marked = _demo_pictures(tmp_path)
    yy, xx = np.mgrid[0:64, 0:64]
    centre = lambda m: (57, 10) if m else (30, 35)  # noqa: E731
    maps = [np.exp(-((yy - centre(m)[0]) ** 2 + (xx - centre(m)[1]) ** 2) / 30.0) for m in marked]
    run = helpers.make_run(tmp_path / "run", maps, source=source)
    heatmaps = load_run_heatmaps(run)
    result = spray(heatmaps.maps, n_clusters=2, embedding="spectral")
    write_spray_results(tmp_path / "spray", result, heatmaps)
    cluster = int(result.labels[np.flatnonzero(marked)[0]])
    artefact, carrying, clean = artefact_from_spray(tmp_path / "spray", cluster, demo)
    assert sorted(p.name for p in carrying.files) == sorted(paths[i].name for i in np.flatnonzero(marked))
    assert len(carrying) + len(clean) == len(paths) and set(carrying.labels.tolist()) == {0}
    assert _overlaps_tag(artefact.mask)
    assert artefact.origin["cluster"] == cluster and artefact.origin["target"] == 0 and artefact.source is not None
    with pytest.raises(InputError, match="no cluster 7"):
        artefact_from_spray(tmp_path / "spray", 7, demo)


def test_artefact_from_ticked_files_and_from_a_region(demo, tmp_path):
    _, paths, marked = _demo_pictures(tmp_path)
    tagged = [p for p, m in zip(paths, marked) if m]
    untagged = [p for p, m in zip(paths, marked) if not m]
    artefact, carrying, clean = artefact_from_files(demo, tagged, untagged, 0)
    assert _overlaps_tag(artefact.mask) and len(carrying) == len(tagged) and len(clean) == len(untagged)
    assert artefact.origin["carrying"] == [str(p) for p in tagged]
    with pytest.raises(InputError, match="at least 2"):
        artefact_from_files(demo, tagged[:1], untagged, 0)
    artefact, carrying, clean_again = artefact_from_image_region(demo, tagged[0], MARK_BOX, clean)
    assert np.array_equal(artefact.mask, box_mask((64, 64), MARK_BOX))
    inside = torch.from_numpy(artefact.mask).bool()
    assert torch.equal(carrying.inputs[:, :, ~inside], clean.inputs[:, :, ~inside])
    assert torch.equal(carrying.inputs[:, :, inside], artefact.source[None, :, inside].expand(len(clean), -1, -1))
    assert artefact.origin["image"].endswith(tagged[0].name) and clean_again is clean
    with pytest.raises(InputError, match="outside"):
        artefact_from_image_region(demo, tagged[0], (70, 70, 4, 4), clean)


def test_the_corrected_model_round_trips(demo, tmp_path):
    carrying = generated_clever_hans_set(demo, 16, 5, marked="all").of_class(0)
    clean = generated_clever_hans_set(demo, 16, 5, marked="none").of_class(0)
    artefact = artefact_from_region(carrying.inputs[0], MARK_BOX, description="the tag")
    result = p_clarc(demo, artefact, carrying, clean, target=0, cav="logistic", layer="11")
    out = write_repair_outputs(result, tmp_path / "fixed")
    reopened = load_model(f"file:{out / 'model.safetensors'}")
    x = torch.cat([carrying.inputs[:3], clean.inputs[:3]])
    assert torch.allclose(reopened.module(x), result.model.module(x), atol=1e-5)
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "p-clarc" and report["edits"][0]["layer"] == "11"
    assert report["edits"][0]["cav"] == "logistic" and report["provenance"]["artefact"]["description"] == "the tag"
    assert "P-ClArC" in reopened.notes[0]


def test_the_cli_writes_a_corrected_model(tmp_path, capsys):
    out = tmp_path / "corrected"
    code = main(["correct", "--model", "demo:clever_hans", "--method", "p-clarc", "--demo-data", "24",
                 "--demo-held-out", "12", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "report.json", "comparison.csv", "before_after.png"}
    header = (out / "comparison.csv").read_text().splitlines()[0]
    assert header == "figure,label,before,after"
    assert load_model(f"file:{out / 'model.safetensors'}").name.endswith("(P-ClArC)")
    assert "share of positive relevance on the artefact" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    code = main(["correct", "--model", "demo:clever_hans", "--method", "a-clarc", "--carrying", str(tmp_path / "empty"),
                 "--clean", str(tmp_path / "empty"), "--class", "horse", "--out", str(tmp_path / "other")])
    assert code == 1 and "holds no images" in capsys.readouterr().err
    code = main(["correct", "--model", "demo:clever_hans", "--method", "p-clarc", "--region", "x.png:1,2",
                 "--class", "horse", "--out", str(tmp_path / "other")])
    assert code == 1 and "four whole numbers" in capsys.readouterr().err
    code = main(["correct", "--model", "demo:clever_hans", "--method", "p-clarc", "--demo-data", "24",
                 "--demo-held-out", "12", "--out", str(out)])
    assert code == 1 and "already holds a corrected model" in capsys.readouterr().err
    code = main(["correct", "--model", "demo:clever_hans", "--method", "p-clarc", "--demo-data", "24",
                 "--layer", "nope", "--out", str(tmp_path / "other")])
    assert code == 1 and "choose one of: 0, 1, 2" in capsys.readouterr().err
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())


def test_the_cli_reports_a_cancelled_correction(tmp_path, capsys, monkeypatch):
    import xaidesk.repair.clarc as clarc

    def cancelled(*args, **kwargs):
        raise Cancelled()

    monkeypatch.setattr(clarc, "a_clarc", cancelled)
    code = main(["correct", "--model", "demo:clever_hans", "--method", "a-clarc", "--demo-data", "24",
                 "--demo-held-out", "12", "--checkpoints", str(tmp_path / "ck"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 130 and "cancelled; nothing was written" in err and f"kept in {tmp_path / 'ck'}" in err
    assert not (tmp_path / "out" / "model.safetensors").exists()
