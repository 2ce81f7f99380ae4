"""What the registry knows about a method besides its function: tags, units, defaults, order, families."""

from __future__ import annotations

import pytest

from xaidesk.core import MethodError, Step, default_method, get_family, get_method, list_families, list_methods, step_of
from xaidesk.core import registry
from xaidesk.core.registry import (
    DATASET, TAG_CUSTOM_RULES, TAG_LABEL_FREE, TAG_NEEDS_SEGMENTATION, TAG_OUTLIER_SCORE, TAG_REFITTABLE,
    TAG_SUPERVISED, TAG_TRANSFORMERS, Param, register_method,
)


def test_every_method_belongs_to_a_registered_family():
    families = {f.name for f in list_families()}
    assert {m.family for m in list_methods()} <= families
    assert all(get_family(m.family).title for m in list_methods())


def test_image_methods_are_listed_default_first_then_by_family():
    assert [m.name for m in list_methods("image")] == [
        "lrp.epsilon_plus_flat", "lrp.epsilon_gamma_box", "lrp.epsilon_alpha2_beta1", "lrp.custom", "lrp.attention",
        "gradient.input_x_gradient", "gradient.integrated", "gradient.smoothgrad", "gradient.sensitivity",
        "gradient.robust", "occlusion", "lime", "relax",
    ]


def test_method_lists_follow_family_order_then_method_order():
    order = {f.name: f.order for f in list_families()}
    methods = list_methods("image")
    keys = [(order[m.family], m.order) for m in methods]
    assert keys == sorted(keys)
    assert methods[0].family == list_families()[0].name


@pytest.mark.parametrize("context", ["image", "audio", "table", DATASET])
def test_each_method_picker_has_one_default_method(context):
    name = default_method(context)
    info = get_method(name)
    assert context in info.default_for
    modalities = ("image", "audio") if context == DATASET else (context,)
    assert set(modalities) & set(info.modality)
    assert sum(context in m.default_for for m in list_methods()) == 1


def test_tags_sort_the_table_methods():
    table = list_methods("table")
    label_free = [m for m in table if m.has(TAG_LABEL_FREE)]
    supervised = [m for m in table if m.has(TAG_SUPERVISED)]
    assert label_free and supervised
    assert not {m.name for m in label_free} & {m.name for m in supervised}
    assert {m.name for m in label_free} | {m.name for m in supervised} == {m.name for m in table}
    assert all(m.has(TAG_LABEL_FREE) for m in table if m.has(TAG_OUTLIER_SCORE))


def test_only_one_method_each_for_custom_rules_and_transformers():
    for tag in (TAG_CUSTOM_RULES, TAG_TRANSFORMERS):
        assert len([m for m in list_methods("image") if m.has(tag)]) == 1


def test_refittable_methods_refit_and_segment():
    refittable = [m for m in list_methods() if m.has(TAG_REFITTABLE)]
    assert refittable
    assert all(callable(m.refit) and m.has(TAG_NEEDS_SEGMENTATION) for m in refittable)


def test_unknown_tag_is_refused():
    with pytest.raises(ValueError):
        get_method(default_method("image")).has("no-such-tag")


def test_modality_defaults_override_the_form_defaults():
    overridden = [m for m in list_methods() if m.modality_defaults]
    assert overridden
    for info in overridden:
        for modality, values in info.modality_defaults.items():
            defaults = info.defaults(modality)
            assert all(defaults[k] == v for k, v in values.items())
            assert info.resolve_params(defaults) == defaults
            assert info.defaults() == {p.name: p.default for p in info.params}


def test_registration_checks_its_metadata(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    kinds = [
        dict(tags=["no-such-tag"]),
        dict(default_for=("table",)),
        dict(modality_defaults={"image": {"missing": 1}}),
        dict(modality_defaults={"image": {"size": 0}}),
    ]
    for index, extra in enumerate(kinds):
        with pytest.raises(ValueError):
            register_method(f"test.bad{index}", modality=("image",),
                            params=[Param("size", "int", 2, "A size.", minimum=1)], **extra)(lambda: None)
    with pytest.raises(MethodError):
        default_method("no-such-modality")


def test_a_step_is_its_text_and_carries_its_count():
    step = Step.count("RELAX: masks", 840, 3000, unit="masks")
    assert step == "RELAX: masks: 840 of 3000" and (step.done, step.total, step.unit) == (840, 3000, "masks")
    assert Step.count("SmoothGrad", 3, 20, unit="samples") == "SmoothGrad: 3 of 20 samples"
    inner = step.in_window(2, 5)
    assert inner.startswith("window 2 of 5: ") and inner.window == (2, 5) and inner.done == 840
    assert step_of(inner) is inner and step_of("plain text") is None


def test_the_core_loads_no_methods_itself():
    import subprocess
    import sys

    code = ("import xaidesk.core.registry as r, sys\n"
            "try:\n    r.list_methods()\nexcept r.MethodError as e:\n    print('refused', 'load_builtin_methods' in str(e))\n"
            "print('explain' in ' '.join(m for m in sys.modules if m.startswith('xaidesk.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["refused", "True", "False"], out.stderr


def test_a_step_is_immutable_and_keeps_its_count_through_throttling_and_prefixes():
    from xaidesk.core import ThrottledProgress

    step = Step.count("LIME: samples", 5, 10, unit="samples")
    with pytest.raises(AttributeError):
        step.done = 6
    received = []
    throttled = ThrottledProgress(lambda f, m, p: received.append(m), interval=0.0)
    throttled(0.5, step)
    assert step_of(received[-1]) is step
    prefixed = step.prefixed("Image 2 of 3")
    assert prefixed == "Image 2 of 3: LIME: samples: 5 of 10" and (prefixed.done, prefixed.total) == (5, 10)
