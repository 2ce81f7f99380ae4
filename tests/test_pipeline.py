"""The pipelines' shared checks: modality and TorchScript models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaidesk.core import MethodError
from xaidesk.explain import explain_image

from helpers import loaded


def scripted_model():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(2 * 8 * 8, 3)).eval()
    script = torch.jit.trace(net, torch.zeros(1, 3, 8, 8))
    return loaded(script, 8, class_names=["a", "b", "c"], torchscript=True)


def test_lrp_on_torchscript_is_refused_and_gradients_work():
    model = scripted_model()
    image = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    with pytest.raises(MethodError, match="needs the model as a PyTorch nn.Module"):
        explain_image(model, image, "lrp.epsilon_plus_flat")
    result = explain_image(model, image, "gradient.sensitivity")
    assert result.relevance.shape == (8, 8) and np.isfinite(result.relevance).all()


def test_a_method_of_another_modality_is_refused():
    model = scripted_model()
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(MethodError, match="does not work on images"):
        explain_image(model, image, "neon.knn")


def test_a_sound_model_is_refused_for_a_picture():
    import numpy as np

    from xaidesk.core import MethodError
    from xaidesk.explain import explain_image, predict_image
    from xaidesk.models import load_model

    sounds = load_model("demo:sounds")
    picture = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(MethodError, match="not for images"):
        predict_image(sounds, picture)
    with pytest.raises(MethodError, match="not for images"):
        explain_image(sounds, picture, "gradient.sensitivity")


@pytest.mark.parametrize("bad", [np.inf, -np.inf, "all-nan"])
def test_an_invalid_result_map_is_refused_not_returned(monkeypatch, bad):
    import dataclasses

    from xaidesk.core import Explanation, Target, get_method
    from xaidesk.core import registry

    def broken(model, x, target, *, params, token, progress):
        relevance = np.full(x.shape[-2:], np.nan if bad == "all-nan" else 0.0, dtype=np.float32)
        if bad != "all-nan":
            relevance[2, 3] = bad
        return Explanation(relevance=relevance, method="gradient.sensitivity", target=Target(target))

    info = get_method("gradient.sensitivity")
    monkeypatch.setitem(registry._REGISTRY, info.name, dataclasses.replace(info, function=broken))
    with pytest.raises(MethodError, match=r"produced an invalid relevance map \(NaN or infinity\)"):
        explain_image(scripted_model(), np.zeros((8, 8, 3), np.uint8), "gradient.sensitivity")


def test_a_partly_unseen_map_is_allowed_by_the_result_check():
    from xaidesk.core import Explanation, Target
    from xaidesk.explain.common import check_finite_result

    relevance = np.ones((4, 4), np.float32)
    relevance[0] = np.nan  # marks cells the model never saw
    check_finite_result(Explanation(relevance=relevance, method="m", target=Target(0)), "M")
    uncertainty = np.full((4, 4), np.inf, np.float32)
    with pytest.raises(MethodError, match="invalid uncertainty map"):
        check_finite_result(Explanation(relevance=relevance, method="m", target=Target(0), uncertainty=uncertainty), "M")
