"""The rules of LRP for transformers layer by layer: the γ rule against a naive formula and zennit, the kept |w|,
the fused projections, the attention, norm and activation rules."""

from __future__ import annotations

import gc
from functools import partial

import pytest
import torch
from torch import nn

from test_attnlrp import input_image, one_thread, relevance_of, tiny_vit  # noqa: F401 - one_thread is an autouse fixture


def test_gamma_rule_matches_a_naive_formula_on_one_dense_layer():
    from xaidesk.explain.lrp.attention_rules import RuledLinear

    torch.manual_seed(3)
    layer = nn.Linear(5, 4)
    a = torch.randn(2, 5)
    gamma, eps = 0.3, 1e-6
    R_out = torch.randn(2, 4)
    ruled = RuledLinear.of(layer, gamma, eps)
    inp = a.clone().requires_grad_(True)
    out = ruled(inp)
    (gradient,) = torch.autograd.grad(out, inp, grad_outputs=R_out / out.detach())
    ours = inp.detach() * gradient
    W, b = layer.weight.detach(), layer.bias.detach()
    expected = torch.zeros_like(a)
    for n in range(2):
        for k in range(4):
            z = a[n] @ W[k] + b[k]
            if z > 0:
                w = torch.where(a[n] > 0, W[k] + gamma * W[k].clamp(min=0), W[k] + gamma * W[k].clamp(max=0))
                bias = b[k] + gamma * b[k].clamp(min=0)
            else:
                w = torch.where(a[n] > 0, W[k] + gamma * W[k].clamp(max=0), W[k] + gamma * W[k].clamp(min=0))
                bias = b[k] + gamma * b[k].clamp(max=0)
            contributions = a[n] * w
            denominator = contributions.sum() + bias
            expected[n] += contributions / (denominator + eps * (1 if denominator >= 0 else -1)) * R_out[n, k]
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.0, 0.25, 3.0])
@pytest.mark.parametrize("kind", ["linear", "tokens", "conv", "patches"])
def test_gamma_rule_matches_zennit_on_one_layer(kind, gamma):
    from zennit.composites import LayerMapComposite
    from zennit.rules import Gamma

    from xaidesk.explain.lrp.attention_rules import RuledConv2d, RuledLinear

    torch.manual_seed(4)
    if kind in ("linear", "tokens"):  # tokens: (batch, tokens, features), as in a transformer
        layer, x = nn.Linear(6, 5), torch.randn(3, 6) if kind == "linear" else torch.randn(2, 3, 6)
        ruled = RuledLinear.of(layer, gamma, 1e-6)
    else:  # patches: a patch embedding, computed as a dense layer on the patches
        layer = nn.Conv2d(3, 4, 3, stride=2, padding=1) if kind == "conv" else nn.Conv2d(3, 4, 4, stride=4)
        x = torch.randn(2, 3, 8, 8)
        ruled = RuledConv2d(layer, gamma, 1e-6)
    inp = x.clone().requires_grad_(True)
    out = ruled(inp)
    R_out = torch.randn_like(out)
    (gradient,) = torch.autograd.grad(out, inp, grad_outputs=R_out / out.detach())
    composite = LayerMapComposite([(type(layer), Gamma(gamma=gamma, stabilizer=1e-6))])
    composite.register(layer)
    try:
        reference_input = x.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(layer(reference_input), reference_input, grad_outputs=R_out)
    finally:
        composite.remove()
    torch.testing.assert_close(inp.detach() * gradient, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_gamma_rule_without_stabiliser_gives_no_share_to_zero_outputs(gamma):
    from xaidesk.explain.lrp.attention_rules import RuledLinear

    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight[1], layer.bias[1] = 0.0, 0.0  # output 1 is exactly 0: a rule's denominator of 0
    a = torch.randn(2, 4, generator=torch.Generator().manual_seed(5))
    inp = a.clone().requires_grad_(True)
    out = RuledLinear.of(layer, gamma, 0.0)(inp)
    R_out = torch.randn(2, 3, generator=torch.Generator().manual_seed(6))
    (gradient,) = torch.autograd.grad(out, inp, grad_outputs=R_out / out.detach().where(out != 0, 1.0))
    W, b = layer.weight.detach(), layer.bias.detach()
    expected = torch.zeros_like(a)
    for k in (0, 2):  # the naive rule, as in the test above
        z = a @ W[k] + b[k]
        positive = (z > 0)[:, None]
        w = torch.where(positive == (a > 0), W[k] + gamma * W[k].clamp(min=0), W[k] + gamma * W[k].clamp(max=0))
        bias = b[k] + gamma * torch.where(z > 0, b[k].clamp(min=0), b[k].clamp(max=0))
        contributions = a * w
        expected += contributions / (contributions.sum(1) + bias)[:, None] * R_out[:, k:k + 1]
    torch.testing.assert_close(inp.detach() * gradient, expected, rtol=1e-4, atol=1e-6)


def test_weight_magnitudes_are_kept_per_parameter_and_follow_changes():
    from xaidesk.explain.lrp import attention_rules

    net, x = tiny_vit(), input_image()
    first = relevance_of(net, x, 1)
    kept = {k for k, (ref, _, _) in attention_rules._MAGNITUDES.items() if any(ref() is p for p in net.parameters())}
    assert len(kept) == sum(p.dim() > 1 for n, p in net.named_parameters() if "weight" in n)  # each weight once
    torch.testing.assert_close(relevance_of(net, x, 1), first, rtol=0, atol=0)
    with torch.no_grad():
        net.encoder.layers[0].mlp[0].weight.mul_(-2.0)  # written in place: its |w| must be recomputed
    changed = relevance_of(net, x, 1)
    attention_rules._MAGNITUDES.clear()
    torch.testing.assert_close(changed, relevance_of(net, x, 1), rtol=0, atol=0)
    assert float((changed - first).abs().max()) > 1e-3 * float(first.abs().max())
    del net
    gc.collect()
    assert not kept & attention_rules._MAGNITUDES.keys()  # freed with the model


def test_fused_query_key_value_projection_gives_the_three_projections_relevance():
    from xaidesk.explain.lrp.attention_families import TorchMultiheadAttention
    from xaidesk.explain.lrp.attention_rules import RuledLinear

    torch.manual_seed(9)
    layer = TorchMultiheadAttention(nn.MultiheadAttention(8, 2, batch_first=True), partial(RuledLinear, gamma=0.3,
                                                                                          epsilon=1e-6), "attnlrp")
    x = torch.randn(2, 5, 8)
    results = []
    for fused in (True, False):
        inp = x.clone().requires_grad_(True)
        out, _ = layer(inp, inp, inp) if fused else layer(inp, inp.view_as(inp), inp.view_as(inp))
        (gradient,) = torch.autograd.grad(out, inp, grad_outputs=torch.ones_like(out))
        results.append(inp.detach() * gradient)
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_attention_rules_match_the_attnlrp_formulas():
    from xaidesk.explain.lrp.attention_rules import attend

    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, 1, 5, 3, generator=g) for _ in range(3))
    R_out = torch.randn(1, 1, 5, 3, generator=g)
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = attend(*inputs, "attnlrp")
    gradients = torch.autograd.grad(out, inputs, grad_outputs=R_out / out.detach())
    R_q, R_k, R_v = (t.detach() * gr for t, gr in zip(inputs, gradients))

    scale = 3 ** -0.5
    x = scale * q[0, 0] @ k[0, 0].T
    A = x.softmax(-1)
    o = A @ v[0, 0]
    share = R_out[0, 0] / o
    R_A = 0.5 * A * (share @ v[0, 0].T)                  # uniform rule on A·V, A's half
    expected_v = 0.5 * v[0, 0] * (A.T @ share)           # ... and V's half
    R_x = x * (R_A - A * R_A.sum(-1, keepdim=True))      # softmax rule
    expected_q = 0.5 * q[0, 0] * ((R_x / x) @ (scale * k[0, 0]))   # uniform rule on Q·Kᵀ
    expected_k = 0.5 * k[0, 0] * ((R_x / x).T @ (scale * q[0, 0]))
    for ours, expected in ((R_q, expected_q), (R_k, expected_k), (R_v, expected_v)):
        torch.testing.assert_close(ours[0, 0], expected, rtol=1e-4, atol=1e-5)

    inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = attend(*inputs, "cp")
    (g_v,) = torch.autograd.grad(out, inputs[2], grad_outputs=R_out / out.detach())
    torch.testing.assert_close(v[0, 0] * g_v[0, 0], v[0, 0] * (A.T @ share), rtol=1e-4, atol=1e-5)
    assert torch.autograd.grad(out, inputs[0], grad_outputs=R_out, allow_unused=True)[0] is None


def test_norm_and_activation_rules_pass_relevance_unchanged():
    from xaidesk.explain.lrp.attention_rules import IdentityRule, LRPLayerNorm

    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(8)).requires_grad_(True)
    for layer in (IdentityRule(nn.GELU()), LRPLayerNorm(nn.LayerNorm(8, bias=False))):
        out = layer(x)
        R_out = torch.randn_like(out)
        (gradient,) = torch.autograd.grad(out, x, grad_outputs=R_out / out.detach())
        R_in = x.detach() * gradient
        if isinstance(layer, IdentityRule):
            torch.testing.assert_close(R_in, R_out, rtol=1e-4, atol=1e-6)  # element by element
        else:
            torch.testing.assert_close(R_in.sum(-1), R_out.sum(-1), rtol=1e-4, atol=1e-5)  # per token
        with torch.no_grad():
            reference = nn.functional.gelu(x) if isinstance(layer, IdentityRule) else nn.functional.layer_norm(x, (8,))
            torch.testing.assert_close(out, reference)



def test_kept_weight_magnitudes_stay_within_their_budget(monkeypatch):
    from xaidesk.explain.lrp import attention_rules

    net, x = tiny_vit(), input_image()
    first = relevance_of(net, x, 1)
    attention_rules._MAGNITUDES.clear()
    largest = max(p.nbytes for n, p in net.named_parameters() if "weight" in n and p.dim() > 1)
    monkeypatch.setattr(attention_rules, "MAGNITUDE_BUDGET_BYTES", largest)
    torch.testing.assert_close(relevance_of(net, x, 1), first, rtol=0, atol=0)
    assert sum(entry[2].nbytes for entry in attention_rules._MAGNITUDES.values()) <= largest
    assert attention_rules._MAGNITUDES  # what fits is kept
