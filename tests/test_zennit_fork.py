"""The LRP fast path copies part of zennit: this fails loudly when the copied internals change.

The fast path (``_SkipZeroTerms``, ``accelerate`` and ``_Bridge`` in ``xaidesk/explain/lrp/fast_rules.py``)
re-implements ``zennit.core.BasicHook.backward`` and leans on how zennit's hooks store tensors,
copy themselves and replace gradients. A zennit release that changes any of that can make the
fast path wrong or silently slow. What is relied on, and how to port the fast path, is written
in docs/lrp-cnn-rules.md, section "zennit coupling and porting to zennit 1.x".
The end-to-end agreement of the fast path with plain zennit on a VGG-like and a ResNet network
is checked in tests/test_lrp.py (``test_fast_path_gives_zennits_result``, and
``test_resnet_canonizer_restores_forward_methods`` on a ResNet-18).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import re
import textwrap
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from packaging.specifiers import SpecifierSet
from torch import nn
from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite
from zennit.core import BasicHook, ParamMod
from zennit.rules import AlphaBeta, Gamma, ZPlus

from xaidesk.explain.lrp import cnn as fork

DOCS = 'docs/lrp-cnn-rules.md, section "zennit coupling and porting to zennit 1.x"'
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# Fingerprints of the zennit code the fast path copies or relies on, taken from zennit 0.5.1
# (docstrings and formatting do not count). Why each one matters is in the docs section above.
FINGERPRINTS = {
    "zennit.core:BasicHook.__init__": "86c7f93435ac5b3f",
    "zennit.core:BasicHook.forward": "4f25c7b358554b82",
    "zennit.core:BasicHook.backward": "eefc7f79a8cf2ebd",
    "zennit.core:BasicHook.copy": "a3ce935dd45b6a7c",
    "zennit.core:Hook.pre_forward": "6b0c7ea65d86210c",
    "zennit.core:Hook.post_forward": "8b2b97a77208aa7f",
    "zennit.core:Hook.pre_backward": "03648f89d6563f60",
    "zennit.core:Hook.register": "ad0ae849b12d4641",
    "zennit.core:ParamMod.ensure": "4b3a2b5828d920c2",
    "zennit.core:ParamMod.__call__": "d7213b42ea21a522",
    "zennit.core:zero_wrap": "ccd36db8b5c3cbd9",
    "zennit.core:Composite.register": "4208244427517c11",
    "zennit.rules:zero_bias": "a60e67c2ac5d156b",
    "zennit.rules:ZPlus.__init__": "b40d6b2cf42ff59b",
    "zennit.rules:Gamma.__init__": "00d68acbbce04c33",
    "zennit.rules:AlphaBeta.__init__": "96c1cfb7fc525c0a",
    "zennit.composites:LayerMapComposite.__init__": "df180ea07bedb32d",
    "zennit.composites:LayerMapComposite.mapping": "d1b559f50a66364d",
    "zennit.composites:SpecialFirstLayerMapComposite.__init__": "15cdfaa21a588b56",
    "zennit.composites:SpecialFirstLayerMapComposite.mapping": "c88b6b4b4e3d5502",
}


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def fingerprint(source: str) -> str:
    """A short hash of ``source`` that ignores docstrings, comments and formatting."""
    tree = _strip_docstrings(ast.parse(textwrap.dedent(source)))
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()[:16]


def source_of(qualified: str) -> str:
    module_name, _, path = qualified.partition(":")
    obj = importlib.import_module(module_name)
    for part in path.split("."):
        obj = getattr(obj, part)
    return inspect.getsource(inspect.unwrap(obj))


def zennit_pin() -> SpecifierSet:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    line = next(d for d in dependencies if re.match(r"zennit\b", d))
    return SpecifierSet(line[len("zennit"):])


def test_pinned_zennit_range_is_the_one_the_fork_was_written_for():
    installed = version("zennit")
    assert zennit_pin() == SpecifierSet(fork.ZENNIT_FORK_VERSIONS), (
        f"pyproject.toml pins zennit{zennit_pin()}, but the LRP fast path in xaidesk/explain/lrp/cnn.py "
        f"was checked for zennit{fork.ZENNIT_FORK_VERSIONS}. Read {DOCS} before widening either.")
    assert installed in SpecifierSet(fork.ZENNIT_FORK_VERSIONS), (
        f"zennit {installed} is installed, but the LRP fast path copies zennit internals checked only for "
        f"zennit{fork.ZENNIT_FORK_VERSIONS}. Install a version in that range, or port the fast path: {DOCS}.")


def test_zennit_internals_under_the_fast_path_are_unchanged():
    changed = [name for name, expected in FINGERPRINTS.items() if fingerprint(source_of(name)) != expected]
    assert not changed, (
        f"zennit {version('zennit')} changed code that the LRP fast path in xaidesk/explain/lrp/cnn.py copies or "
        f"relies on: {', '.join(changed)}. The fast path may now give wrong relevance or silently lose its "
        f"speed-up. Port it as described in {DOCS}, then update FINGERPRINTS in tests/test_zennit_fork.py.")


def _names(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_zennit_attributes_and_signatures_the_fork_reads():
    problems = []
    if _names(BasicHook.forward) != ["self", "module", "input", "output"]:
        problems.append(f"BasicHook.forward{inspect.signature(BasicHook.forward)} (the fork reads "
                        "stored_tensors['input'][0] as the only layer input)")
    if _names(BasicHook.backward) != ["self", "module", "grad_input", "grad_output"]:
        problems.append(f"BasicHook.backward{inspect.signature(BasicHook.backward)}")
    for rule in (ZPlus(), Gamma(), AlphaBeta()):
        for attribute in ("input_modifiers", "param_modifiers", "output_modifiers", "gradient_mapper", "reducer",
                          "stored_tensors"):
            if not hasattr(rule, attribute):
                problems.append(f"{type(rule).__name__}.{attribute} is missing")
        if not all(hasattr(ParamMod.ensure(mod), "zero_params") for mod in getattr(rule, "param_modifiers", ())):
            problems.append(f"{type(rule).__name__}: a parameter modifier has no zero_params")
    composite = SpecialFirstLayerMapComposite(layer_map=[(nn.Conv2d, ZPlus())], first_map=[(nn.Conv2d, Gamma())])
    for attribute in ("layer_map", "first_map"):
        if not hasattr(composite, attribute):
            problems.append(f"SpecialFirstLayerMapComposite.{attribute} is missing")
    if _names(composite.module_map) != ["ctx", "name", "module"]:
        problems.append(f"Composite.module_map{inspect.signature(composite.module_map)}")
    assert not problems, (
        f"zennit {version('zennit')} no longer offers what the LRP fast path reads: {'; '.join(problems)}. "
        f"See {DOCS}.")


class _CountingConv(nn.Conv2d):
    """A convolution that counts its forward passes (the fork's saving is one pass per zero term)."""

    calls = 0

    def forward(self, x):
        type(self).calls += 1
        return super().forward(x)


def _relevance(rule, conv, x, grad):
    """The input relevance of ``rule`` on one layer, through zennit's own hook registration."""
    hook = rule.copy()
    handles = hook.register(conv)
    try:
        x = x.clone().requires_grad_()
        _CountingConv.calls = 0
        conv(x).backward(grad)
        return x.grad.detach(), _CountingConv.calls
    finally:
        handles.remove()


@pytest.mark.parametrize("rule, zero_terms", [(ZPlus(), 1), (Gamma(gamma=0.3), 2), (AlphaBeta(2.0, 1.0), 2)])
def test_each_fast_rule_matches_zennits_rule_and_still_skips_terms(rule, zero_terms):
    torch.manual_seed(0)
    conv = _CountingConv(3, 4, 3, padding=1)
    composite = fork.accelerate(LayerMapComposite(layer_map=[(nn.Conv2d, rule.copy())]))
    fast = composite.layer_map[0][1]
    assert isinstance(fast, fork._SkipZeroTerms) and isinstance(fast, type(rule))
    assert type(fast.copy()) is type(fast), (
        f"zennit's BasicHook.copy no longer keeps the hook's class, so the fast rules are dropped when a composite "
        f"is registered (the fast path is silently off). See {DOCS}.")
    grad = torch.randn(2, 4, 5, 5)
    for x, skipped in ((torch.randn(2, 3, 5, 5).clamp(min=0), zero_terms), (torch.randn(2, 3, 5, 5), 0)):
        expected, slow_calls = _relevance(rule, conv, x, grad)
        got, fast_calls = _relevance(fast, conv, x, grad)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)
        assert slow_calls - fast_calls == skipped, (
            f"{type(fast).__name__} ran {fast_calls} forward passes where zennit ran {slow_calls}; "
            f"{skipped} fewer were expected on this input. See {DOCS}.")
