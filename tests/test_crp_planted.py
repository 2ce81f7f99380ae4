"""Planted concepts: on a network trained to find a red square or a blue bar, the most relevant concept of the
last convolution sits on the mark, each mark has its own concept, and the per-batch records agree."""

from collections import Counter
from pathlib import Path

import numpy as np
import torch

import planted_concepts as planted
from xaidesk.explain.lrp.cnn import build_composite
from xaidesk.explain.lrp.concept_records import record_concepts
from xaidesk.explain.lrp.concepts import concept_layers, conditional_relevance, default_layer

CLASS_A = 0


def _composite(model):
    return build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model)


def _share_on_mark(heatmap: np.ndarray, box, margin: int = 3) -> float:
    """The part of the heatmap's positive mass inside the mark's box widened by ``margin`` pixels."""
    positive = np.clip(heatmap, 0, None)
    top, left, bottom, right = (int(v) for v in box)
    inside = positive[max(0, top - margin):bottom + margin, max(0, left - margin):right + margin].sum()
    return float(inside / max(positive.sum(), 1e-12))


def test_the_most_relevant_concept_of_each_mark_sits_on_it_and_the_marks_use_different_concepts():
    model = planted.trained_model()
    layer = default_layer(concept_layers(model))
    assert layer == planted.LAST_CONV
    pictures = planted.make_pictures([planted.RED_SQUARE, planted.BLUE_BAR] * 6, seed=7)
    x = planted.normalise(pictures.images)
    tops: dict[int, list[int]] = {planted.RED_SQUARE: [], planted.BLUE_BAR: []}
    for i, (kind, box) in enumerate(zip(pictures.kinds, pictures.boxes)):
        result = conditional_relevance(model, x[i:i + 1], CLASS_A, _composite(model), layer, range(16))
        assert result.logit > 0
        top = result.top(1)[0][0]
        heatmap = result.heatmaps[result.channels.index(top)].sum(0).numpy()
        share = _share_on_mark(heatmap, box)
        assert share >= 0.6, f"picture {i} (kind {kind}): concept {top} has {share:.2f} of its mass on the mark"
        tops[int(kind)].append(top)
    red, blue = Counter(tops[planted.RED_SQUARE]), Counter(tops[planted.BLUE_BAR])
    red_concept, blue_concept = red.most_common(1)[0][0], blue.most_common(1)[0][0]
    assert red_concept != blue_concept, tops
    # each mark mostly has its own concept, and rarely the other mark's
    assert red[red_concept] >= 4 and blue[blue_concept] >= 4, tops
    assert red[blue_concept] <= 1 and blue[red_concept] <= 1, tops


def test_records_of_a_batch_give_each_sample_the_channel_relevance_of_its_own_pass():
    model = planted.trained_model()
    pictures = planted.make_pictures([planted.RED_SQUARE, planted.BLUE_BAR, planted.GREEN_CROSS, planted.NOTHING],
                                     seed=8)
    x = planted.normalise(pictures.images)
    targets = [0, 0, 1, 1]
    records = record_concepts(model, x, targets, _composite(model), planted.LAST_CONV)
    assert records.targets == targets and records.relevance.shape == (4, 16)
    for i, target in enumerate(targets):
        alone = conditional_relevance(model, x[i:i + 1], target, _composite(model), planted.LAST_CONV, [0])
        expected = alone.channel_relevance.float()
        scale = float(expected.abs().max())
        assert torch.allclose(records.relevance[i], expected, atol=1e-5 * scale + 1e-7), i
    # explaining each input's top class chooses the planted label
    assert record_concepts(model, x, None, _composite(model), planted.LAST_CONV).targets == pictures.labels.tolist()


def test_the_pictures_are_written_in_class_folders(tmp_path):
    from PIL import Image

    pictures = planted.make_pictures([planted.RED_SQUARE, planted.NOTHING, planted.BLUE_BAR], seed=9)
    paths = planted.write_pictures(tmp_path, pictures)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["A/0000_kind1.png", "B/0001_kind0.png",
                                                                  "A/0002_kind2.png"]
    back = np.asarray(Image.open(paths[0])).astype(np.float32).transpose(2, 0, 1) / 255
    assert np.abs(back - pictures.images[0]).max() <= 0.5 / 255 + 1e-6


def test_the_reference_samples_of_each_mark_s_concept_carry_that_mark_where_the_box_is(tmp_path, monkeypatch):
    from xaidesk.concepts import references as reference_runs

    monkeypatch.setattr(reference_runs, "references_root", lambda: tmp_path / "cache")
    kinds = [planted.RED_SQUARE, planted.BLUE_BAR] * 8 + [planted.GREEN_CROSS, planted.NOTHING] * 3
    pictures = planted.make_pictures(kinds, seed=15)
    planted.write_pictures(tmp_path / "pictures", pictures)
    run = reference_runs.compute_references(tmp_path / "pictures", planted.trained_model(), planted.LAST_CONV,
                                            out=tmp_path / "run", method="lrp.epsilon_plus_flat", batch_size=28)
    index = [int(Path(f).name.split("_")[0]) for f in run.files]
    for kind in (planted.RED_SQUARE, planted.BLUE_BAR):
        rows = [r for r, i in enumerate(index) if pictures.kinds[i] == kind]
        concept = int(np.bincount(run.relevance[rows].argmax(1)).argmax())
        for sample in run.relmax(concept, n=6):
            i = index[sample.row]
            assert pictures.kinds[i] == kind, f"concept {concept} of kind {kind}: {sample.file}"
            top, left, bottom, right = pictures.boxes[i]
            centre = ((top + bottom) / 2, (left + right) / 2)
            box = sample.box
            assert box[0] - 2 <= centre[0] <= box[2] + 2 and box[1] - 2 <= centre[1] <= box[3] + 2, (sample, centre)
