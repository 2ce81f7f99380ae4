"""LRP for transformers (``lrp.attention``) on tiny Swin and Swin V2 models, torchvision and Hugging Face."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from test_attnlrp import (  # noqa: F401 - one_thread is an autouse fixture
    HFClassifier, assert_same_scores_and_relevance, copies_score_like_the_model, loaded, one_thread, run, tiny_swin_v2)


def tiny_swin(bias_free=False):
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    net = SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4],
                          num_classes=3).eval()
    nn.init.normal_(net.head.weight, std=0.3)
    if bias_free:
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
    return net


@pytest.mark.parametrize("size", [48, 40], ids=["whole-windows", "padded"])
def test_swin_copy_scores_like_the_model_and_cp_lrp_conserves(size):
    net = tiny_swin(bias_free=True)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    copies_score_like_the_model(net, x, "torchvision Swin", 4)
    # Shifted windows, relative position bias and patch merging pass relevance without loss when the
    # attention weights are constants (CP-LRP) and no layer has a bias.
    result = run(loaded(net, size=size), x, 1, attention="cp", gamma_conv=0.0, gamma_linear=0.0, epsilon=0.0)
    assert result.extras["conservation"] == pytest.approx(1.0, abs=1e-4)
    assert np.isfinite(run(loaded(tiny_swin(), size=size), x, 1).relevance).all()


def outer_weights(state: dict, prefix: str) -> dict:
    """The Hugging Face names (``prefix``: ``swin`` or ``swinv2``) of a tiny torchvision Swin's weights outside its blocks."""
    return {f"{prefix}.embeddings.patch_embeddings.projection.weight": state["features.0.0.weight"],
            f"{prefix}.embeddings.patch_embeddings.projection.bias": state["features.0.0.bias"],
            f"{prefix}.embeddings.norm.weight": state["features.0.2.weight"],
            f"{prefix}.embeddings.norm.bias": state["features.0.2.bias"],
            f"{prefix}.encoder.layers.0.downsample.reduction.weight": state["features.2.reduction.weight"],
            f"{prefix}.encoder.layers.0.downsample.norm.weight": state["features.2.norm.weight"],
            f"{prefix}.encoder.layers.0.downsample.norm.bias": state["features.2.norm.bias"],
            f"{prefix}.layernorm.weight": state["norm.weight"], f"{prefix}.layernorm.bias": state["norm.bias"],
            "classifier.weight": state["head.weight"], "classifier.bias": state["head.bias"]}


def torchvision_swin_to_hugging_face(net) -> "HFClassifier":
    from transformers import SwinConfig, SwinForImageClassification

    config = SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=4,
                        num_labels=3)
    other = SwinForImageClassification(config).eval()
    state = net.state_dict()
    mapped = outer_weights(state, "swin")
    for stage, feature in ((0, 1), (1, 3)):
        for block in range(2):
            ours, theirs = f"swin.encoder.layers.{stage}.blocks.{block}.", f"features.{feature}.{block}."
            mapped[ours + "attention.relative_position_bias.relative_position_bias_table"] = \
                state[theirs + "attn.relative_position_bias_table"]
            w, b = state[theirs + "attn.qkv.weight"], state[theirs + "attn.qkv.bias"]
            size = w.shape[0] // 3
            for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
                mapped[f"{ours}attention.{name}.weight"] = w[size * j:size * (j + 1)]
                mapped[f"{ours}attention.{name}.bias"] = b[size * j:size * (j + 1)]
            for mine, source in (("attention.o_proj", "attn.proj"), ("layernorm_before", "norm1"),
                                 ("layernorm_after", "norm2"), ("mlp.fc1", "mlp.0"), ("mlp.fc2", "mlp.3")):
                for kind in ("weight", "bias"):
                    mapped[f"{ours}{mine}.{kind}"] = state[f"{theirs}{source}.{kind}"]
    other.load_state_dict(mapped)
    return HFClassifier(other).eval()


def test_hugging_face_swin_gives_the_torchvision_swin_relevance():
    net = tiny_swin()
    other = torchvision_swin_to_hugging_face(net)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    assert_same_scores_and_relevance(net, other, x, ({}, {"attention": "cp"}))
    result = run(loaded(other, size=64), x, 2)
    assert result.extras["family"] == "Hugging Face Swin"
    expected = run(loaded(net, size=64), x, 2).extras["position_bias_relevance"]
    assert result.extras["position_bias_relevance"] == pytest.approx(expected, rel=1e-3) and expected != 0


# --- Swin V2 (cosine attention, continuous position bias, post-norm blocks) -----------------------


@pytest.mark.parametrize("size", [32, 40], ids=["whole-windows", "padded"])
def test_swin_v2_copy_scores_like_the_model_and_cp_lrp_conserves(size):
    net = tiny_swin_v2(bias_free=True)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        out_before = net(x)
    for mode, info in copies_score_like_the_model(net, x, "torchvision Swin", 4).items():
        assert info["rules"]["features.1.0.attn"].startswith("AttnLRP" if mode == "attnlrp" else "CP-LRP")
        assert info["rules"]["features.1.0.norm1"].startswith("identity through the normalisation")
    # With the attention weights held constant (CP-LRP), the cosine normalisation, logit scale and
    # position bias are inside the constant weights: without biases Σ R = f_t(x) through shifted
    # windows, post-norm blocks and V2 patch merging.
    result = run(loaded(net, size=size), x, 1, attention="cp", gamma_conv=0.0, gamma_linear=0.0, epsilon=0.0)
    assert result.extras["conservation"] == pytest.approx(1.0, abs=1e-4)
    assert result.extras["position_bias_relevance"] == 0.0
    # AttnLRP: the position bias (and the softmax rule) absorb relevance; reported, finite, not 1.
    attn = run(loaded(net, size=size), x, 1, gamma_conv=0.0, gamma_linear=0.0, epsilon=0.0)
    assert np.isfinite(attn.relevance).all() and np.isfinite(attn.extras["conservation"])
    assert attn.extras["conservation"] != pytest.approx(1.0, abs=1e-3)
    assert np.isfinite(attn.extras["position_bias_relevance"]) and attn.extras["position_bias_relevance"] != 0
    assert np.abs(attn.relevance - result.relevance).max() > 1e-3 * np.abs(result.relevance).max()
    assert np.isfinite(run(loaded(tiny_swin_v2(), size=size), x, 1).relevance).all()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    with torch.no_grad():
        assert torch.equal(net(x), out_before)


def test_cosine_attention_rule_matches_the_formulas():
    """The L2 norms held constant, τ a constant factor, the position bias a constant summand."""
    from xaidesk.explain.lrp.attention_families import cosine_attend

    g = torch.Generator().manual_seed(9)
    q, k, v = (torch.randn(1, 1, 5, 3, generator=g) for _ in range(3))
    bias = 16 * torch.rand(1, 1, 5, 5, generator=g).sigmoid()
    logit_scale = torch.tensor([[[1.3]]])
    R_out = torch.randn(1, 1, 5, 3, generator=g)
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = cosine_attend(*inputs, logit_scale, bias, "attnlrp")
    with torch.no_grad():
        q_hat, k_hat = (nn.functional.normalize(t[0, 0], dim=-1) for t in (q, k))
        tau = float(logit_scale.exp())
        x = tau * q_hat @ k_hat.T + bias[0, 0]
        A = x.softmax(-1)
        torch.testing.assert_close(out[0, 0], A @ v[0, 0])  # Swin V2's forward
    gradients = torch.autograd.grad(out, inputs, grad_outputs=R_out / out.detach())
    R_q, R_k, R_v = (t.detach()[0, 0] * gr[0, 0] for t, gr in zip(inputs, gradients))

    share = R_out[0, 0] / (A @ v[0, 0])
    R_A = 0.5 * A * (share @ v[0, 0].T)
    R_x = x * (R_A - A * R_A.sum(-1, keepdim=True))                  # softmax rule
    expected_q = 0.5 * q_hat * ((R_x / x) @ (tau * k_hat))           # uniform rule on q̂·k̂ᵀ; q̂'s relevance is q's
    expected_k = 0.5 * k_hat * ((R_x / x).T @ (tau * q_hat))
    for ours, expected in ((R_q, expected_q), (R_k, expected_k), (R_v, 0.5 * v[0, 0] * (A.T @ share))):
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
    # The logits' relevance splits into q, k and the position bias, which keeps bias · R_x / x.
    absorbed = float((bias[0, 0] * R_x / x).sum())
    assert float(R_q.sum() + R_k.sum()) + absorbed == pytest.approx(float(R_x.sum()), rel=1e-4, abs=1e-5)
    assert abs(absorbed) > 1e-3


def torchvision_swin_v2_to_hugging_face(net, image_size=32) -> "HFClassifier":
    """A Hugging Face ``Swinv2ForImageClassification`` with the weights of a tiny torchvision Swin V2."""
    from transformers import Swinv2Config, Swinv2ForImageClassification

    config = Swinv2Config(image_size=image_size, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[1, 2],
                          window_size=4, num_labels=3)
    other = Swinv2ForImageClassification(config).eval()
    state = net.state_dict()
    mapped = outer_weights(state, "swinv2")
    for stage, feature in ((0, 1), (1, 3)):
        for block in range(2):
            ours, theirs = f"swinv2.encoder.layers.{stage}.blocks.{block}.", f"features.{feature}.{block}."
            inner = ours + "attention.self."
            mapped[inner + "logit_scale"] = state[theirs + "attn.logit_scale"]
            for index in ("0.weight", "0.bias", "2.weight"):
                mapped[inner + "continuous_position_bias_mlp." + index] = state[theirs + "attn.cpb_mlp." + index]
            w, b = state[theirs + "attn.qkv.weight"], state[theirs + "attn.qkv.bias"]
            size = w.shape[0] // 3
            for j, name in enumerate(("query", "key", "value")):
                mapped[f"{inner}{name}.weight"] = w[size * j:size * (j + 1)]
                if name != "key":  # torchvision zeroes the key bias in every forward pass
                    mapped[f"{inner}{name}.bias"] = b[size * j:size * (j + 1)]
            for mine, source in (("attention.output.dense", "attn.proj"), ("layernorm_before", "norm1"),
                                 ("layernorm_after", "norm2"), ("intermediate.dense", "mlp.0"),
                                 ("output.dense", "mlp.3")):
                for kind in ("weight", "bias"):
                    mapped[f"{ours}{mine}.{kind}"] = state[f"{theirs}{source}.{kind}"]
    other.load_state_dict(mapped)
    return HFClassifier(other).eval()


def test_hugging_face_swin_v2_gives_the_torchvision_swin_v2_relevance():
    net = tiny_swin_v2()
    other = torchvision_swin_v2_to_hugging_face(net)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    assert_same_scores_and_relevance(net, other, x, ({}, {"attention": "cp"}, {"gamma_linear": 0.0, "gamma_conv": 0.0}))
    result = run(loaded(other), x, 2)
    assert result.extras["family"] == "Hugging Face Swin V2"
    # The relevance the position biases keep, from two independent computations of the bias.
    expected = run(loaded(net), x, 2).extras["position_bias_relevance"]
    assert result.extras["position_bias_relevance"] == pytest.approx(expected, rel=1e-3) and expected != 0
    assert result.extras["rules"]["model.swinv2.encoder.layers.0.blocks.1.attention"].startswith("AttnLRP")
