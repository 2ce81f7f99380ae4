"""The Concepts panel's jobs (Qt-free): layers, top concepts with their heatmaps, the attribution graph, references."""

import numpy as np
import pytest
import torch

from helpers import loaded
from xaidesk.core import Cancelled, CancelToken, default_method, get_method
from xaidesk.gui import concept_jobs, concept_saved_jobs
from xaidesk.gui.concept_jobs import ConceptContext
from xaidesk.explain.lrp.cnn import build_composite
from xaidesk.explain.lrp.concepts import (
    attribution_graph, concept_layers, conditional_relevance, default_layer, top_concepts,
)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(6, 5, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(5, 3),
    )


def _pixels(seed=1, shape=(20, 16)):
    return (np.random.default_rng(seed).random((*shape, 3)) * 255).astype(np.uint8)


def test_the_setup_lists_the_concept_layers_and_refuses_a_torchscript_model_in_one_sentence():
    model = loaded(_net(), 12)
    setup = concept_jobs.concept_setup(model)
    assert [layer.name for layer in setup.layers] == [layer.name for layer in concept_layers(model)]
    assert [layer.title for layer in setup.layers] == [layer.title for layer in concept_layers(model)]
    assert setup.default == default_layer(concept_layers(model)) and setup.refusal is None
    scripted = loaded(torch.jit.script(_net()), 12, torchscript=True)
    refused = concept_jobs.concept_setup(scripted)
    assert refused.layers == [] and refused.refusal.startswith("Concepts need LRP")
    assert refused.refusal.count(". ") == 0 and refused.refusal.endswith(".")
    flat = loaded(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)), 2)
    assert "no convolution" in concept_jobs.concept_setup(flat).refusal


def test_the_method_is_the_tabs_lrp_method_with_its_settings_else_the_registry_default():
    lrp = default_method("image")
    assert concept_jobs.uses_lrp(lrp)
    chosen = concept_jobs.lrp_choice(lrp, {"epsilon": 0.5})
    assert chosen.method == lrp and chosen.params["epsilon"] == 0.5 and chosen.resample == "sum"
    assert chosen.composite == lrp.partition(".")[2]
    other = next(name for name in ("occlusion", "gradient.input_x_gradient") if get_method(name))
    fallback = concept_jobs.lrp_choice(other, {"patch_size": 4})
    assert fallback.method == lrp and fallback.params == get_method(lrp).resolve_params({})


def test_the_top_concepts_have_the_shares_of_top_concepts_and_their_heatmaps_in_image_coordinates():
    model = loaded(_net(), 12)
    pixels = _pixels()
    context = ConceptContext(model, pixels, 1)
    steps = []
    ranking = concept_jobs.rank_concepts(context, "2", 3, progress=lambda f, m="", p=None: steps.append(f))
    x = model.preprocessing.to_tensor(pixels)
    composite = build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model)
    direct = conditional_relevance(model, x, 1, composite, "2", range(5))
    expected = top_concepts(direct.channel_relevance, 3)
    assert [c.channel for c in ranking.concepts] == [c for c, _ in expected]
    assert [c.share for c in ranking.concepts] == pytest.approx([s for _, s in expected])
    assert ranking.channels == 5 and ranking.target == 1 and ranking.layer == "2" and steps[-1] == 1.0
    for concept in ranking.concepts:
        k = concept.channel
        heatmap = model.preprocessing.to_original(direct.heatmaps[k].sum(0).numpy(), pixels.shape[:2], preserve="sum")
        # kept in model-input pixels; mapped onto the image only when asked for
        assert concept.stored_heatmap.shape == (12, 12) and ranking.heatmap(k).shape == pixels.shape[:2]
        np.testing.assert_allclose(ranking.heatmap(k), heatmap, atol=1e-6)
        assert concept.absorbed == pytest.approx(float(direct.absorbed[k]), abs=1e-6)
    # a channel picked elsewhere joins the top ones
    last = int(torch.argsort(direct.channel_relevance)[0])
    included = concept_jobs.rank_concepts(context, "2", 2, include=last)
    assert [c.channel for c in included.concepts] == [c for c, _ in expected[:2]] + [last]


def test_no_target_explains_the_top_class_and_a_cancelled_token_stops_the_job():
    model = loaded(_net(), 12)
    pixels = _pixels()
    with torch.no_grad():
        top = int(model.module(model.preprocessing.to_tensor(pixels)).argmax())
    assert concept_jobs.rank_concepts(ConceptContext(model, pixels, None), "2", 2).target == top
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        concept_jobs.rank_concepts(ConceptContext(model, pixels, 0), "2", 2, token=token)


def test_the_attribution_graph_lists_the_layer_below_and_the_first_layer_says_nothing_feeds_it():
    model = loaded(_net(), 12)
    pixels = _pixels()
    context = ConceptContext(model, pixels, 1)
    channel = concept_jobs.rank_concepts(context, "2", 1).concepts[0].channel
    feeding = concept_jobs.feeding_concepts(context, "2", channel, 4)
    x = model.preprocessing.to_tensor(pixels)
    graph = attribution_graph(model, x, 1, build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model), "2",
                              channel, "0")
    assert feeding.lower_layer == "0" and len(feeding.items) == 4
    assert [c for c, _ in feeding.items] == [c for c, _ in graph.top(4)]
    assert [s for _, s in feeding.items] == pytest.approx([s for _, s in graph.top(4)])
    assert feeding.items[0][1] > 0
    first = concept_jobs.feeding_concepts(context, "0", 1)
    assert first.lower_layer is None and first.items == [] and "first layer" in first.note
    # several concepts in one pass: one graph each, as for one
    several = concept_jobs.feeding_concepts(context, "2", [channel, 0], 4)
    assert [f.channel for f in several] == [channel, 0] and [c for c, _ in several[0].items] == [c for c, _ in feeding.items]
    assert [s for _, s in several[0].items] == pytest.approx([s for _, s in feeding.items])


def test_reference_crops_come_from_a_reference_run_of_the_model_and_layer(tmp_path, isolated_home):
    from PIL import Image

    from xaidesk.concepts.references import compute_references, open_references

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(_pixels(seed=i, shape=(24, 24))).save(folder / f"p{i}.png")
    model = loaded(_net(), 12)
    run_dir = tmp_path / "run"
    compute_references(folder, model, "2", out=run_dir)
    assert concept_jobs.reference_runs("test", "2") == [run_dir.resolve()]
    assert concept_jobs.reference_runs("test", "0") == []
    found = concept_jobs.reference_crops(run_dir, 1, concept_jobs.RELMAX)
    assert found.source == "images" and found.images == 5 and found.finished and found.run_dir == run_dir
    crops = found.crops
    references = open_references(run_dir)
    best = references.relmax(1, n=8)
    assert len(crops) == 5 and [c.value for c in crops] == pytest.approx([s.value for s in best])
    assert [c.file for c in crops] == [s.file for s in best]
    assert all(c.pixels.ndim == 3 and c.pixels.dtype == np.uint8 for c in crops)
    actmax = concept_jobs.reference_crops(run_dir, 1, concept_jobs.ACTMAX, n=2).crops
    assert [c.value for c in actmax] == pytest.approx([s.value for s in references.actmax(1, n=2)])


def _saved(tmp_path, model, pixels, source):
    from xaidesk.concepts.files import write_image_concepts
    from xaidesk.concepts.image import explain_concepts

    found = explain_concepts(model, pixels, "2", target=1, top=3)
    return found, write_image_concepts(tmp_path / "saved", found, pixels, source=str(source))


def test_saved_concepts_are_read_back_with_their_shares_heatmaps_relevance_and_feeders(tmp_path):
    from PIL import Image

    from xaidesk.core import InputError

    model = loaded(_net(), 12)
    pixels = _pixels()
    Image.fromarray(pixels).save(tmp_path / "input.png")
    found, folder = _saved(tmp_path, model, pixels, tmp_path / "input.png")
    saved = concept_saved_jobs.open_saved_concepts(folder)
    ranking = saved.ranking
    assert saved.input_path == (tmp_path / "input.png").resolve() and saved.image_shape == pixels.shape[:2]
    assert [c.channel for c in ranking.concepts] == found.channels
    assert [c.share for c in ranking.concepts] == pytest.approx(found.shares)
    assert (ranking.layer, ranking.target, ranking.channels, ranking.model_spec) == ("2", 1, 5, "test")
    np.testing.assert_allclose(ranking.channel_relevance, found.channel_relevance)
    for k, channel in enumerate(found.channels):
        np.testing.assert_allclose(ranking.heatmap(channel), found.heatmap(k), atol=1e-6, equal_nan=True)
        assert saved.feeding[channel].lower_layer == "0"
        assert [c for c, _ in saved.feeding[channel].items] == [c for c, _ in found.feeding[channel]]
    # the input named relative to the folder's parent is found; a missing one is None
    (folder / "concepts.json").write_text((folder / "concepts.json").read_text().replace(
        str(tmp_path / "input.png"), "input.png"))
    assert concept_saved_jobs.open_saved_concepts(folder).input_path == (tmp_path / "input.png").resolve()
    (tmp_path / "input.png").unlink()
    assert concept_saved_jobs.open_saved_concepts(folder).input_path is None
    with pytest.raises(InputError, match="does not hold"):
        concept_saved_jobs.open_saved_concepts(tmp_path)


def _prototypes(tmp_path, channels, layer, class_index, centre=None, name="prototypes"):
    from xaidesk.concepts.prototype_files import write_prototypes
    from xaidesk.concepts.prototypes import fit_prototypes

    rng = np.random.default_rng(0)
    centre = np.ones(channels) if centre is None else np.asarray(centre, dtype=np.float64)
    vectors = np.abs(centre + 0.3 * rng.standard_normal((24, channels)) * np.abs(centre).mean())
    fitted = fit_prototypes(vectors, 2, seed=0)
    fitted.settings.update(layer=layer, class_index=class_index, model="test")
    return write_prototypes(fitted, tmp_path / name)


def test_the_reasoning_is_compared_with_prototypes_of_the_same_layer_and_class_and_others_are_refused(tmp_path):
    from xaidesk.concepts.prototypes import typicality

    model = loaded(_net(), 12)
    ranking = concept_jobs.rank_concepts(ConceptContext(model, _pixels(), 1), "2", 3)
    prototypes = concept_saved_jobs.open_prototypes(_prototypes(tmp_path, 5, "2", 1))
    found = concept_saved_jobs.compare_with_prototypes(prototypes, ranking)
    expected = typicality(prototypes, ranking.channel_relevance, k=concept_saved_jobs.DIFFERENCES_SHOWN)
    assert found.mismatch == "" and found.prototype == expected.prototype
    assert found.percentile == pytest.approx(expected.percentile) and len(found.differences) == 5
    assert found.weight == pytest.approx(prototypes.weights[expected.prototype]) and found.note == ""
    other_layer = concept_saved_jobs.compare_with_prototypes(
        concept_saved_jobs.open_prototypes(_prototypes(tmp_path, 5, "0", 1, name="p0")), ranking)
    assert "layer 0" in other_layer.mismatch and "choose layer 0" in other_layer.mismatch
    other_class = concept_saved_jobs.compare_with_prototypes(
        concept_saved_jobs.open_prototypes(_prototypes(tmp_path, 5, "2", 2, name="p2")), ranking)
    assert "class 2" in other_class.mismatch and other_class.prototype == -1


def test_a_vision_transformer_gets_its_concepts_from_lrp_for_transformers():
    from test_attnlrp import loaded as loaded_vit
    from test_attnlrp import tiny_vit

    from xaidesk.core.registry import TAG_TRANSFORMERS

    model = loaded_vit(tiny_vit())
    setup = concept_jobs.concept_setup(model)
    assert setup.refusal is None and setup.default == "encoder.layers.encoder_layer_1"
    choice = concept_jobs.lrp_choice(default_method("image"), {}, model)
    assert get_method(choice.method).has(TAG_TRANSFORMERS)
    ranking = concept_jobs.rank_concepts(ConceptContext(model, _pixels(shape=(32, 32)), 1), setup.default, 3)
    assert len(ranking.concepts) == 3 and ranking.heatmap(ranking.concepts[0].channel).shape == (32, 32)
    feeding = concept_jobs.feeding_concepts(ConceptContext(model, _pixels(shape=(32, 32)), 1), setup.default,
                                            ranking.concepts[0].channel)
    assert feeding.lower_layer == "encoder.layers.encoder_layer_0" and feeding.items
