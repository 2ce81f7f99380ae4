"""Engine contracts: parameter schema, registry, progress throttling, rendering, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from xaidesk.core import CancelToken, Cancelled, MethodError, Param, ThrottledProgress, get_method, list_methods
from xaidesk.core import render
from xaidesk.core.io import save_npy_atomic, write_bytes_atomic, write_json_atomic
from xaidesk.core.registry import MethodInfo, parse_param_values

REQUIRED_IMAGE_METHODS = {
    "lrp.epsilon_plus_flat", "lrp.epsilon_gamma_box", "lrp.epsilon_alpha2_beta1", "lrp.custom",
    "gradient.sensitivity", "gradient.input_x_gradient", "gradient.smoothgrad", "gradient.integrated",
    "gradient.robust", "occlusion",
}


def test_required_methods_are_registered_with_help_and_schema():
    names = {m.name for m in list_methods("image")}
    assert REQUIRED_IMAGE_METHODS <= names
    for name in REQUIRED_IMAGE_METHODS:
        info = get_method(name)
        assert info.help, name
        for p in info.params:
            assert p.help, f"{name}.{p.name} has no help text"
            assert p.convert(p.default) == p.default


def test_unknown_method_is_a_plain_error():
    with pytest.raises(MethodError, match="no method called"):
        get_method("lrp.nonexistent")


@pytest.mark.parametrize(
    "param, raw, expected",
    [
        (Param("steps", "int", 32, "h", minimum=1, maximum=512), "64", 64),
        (Param("steps", "int", 32, "h", minimum=1), "8.0", 8),
        (Param("eps", "float", 1e-6, "h", minimum=0.0), "1e-3", 1e-3),
        (Param("flag", "bool", False, "h"), "yes", True),
        (Param("flag", "bool", True, "h"), "off", False),
        (Param("fill", "choice", "zero", "h", choices=("zero", "black")), "black", "black"),
        (Param("size", "choice", 8, "h", choices=(8, 16)), "16", 16),
    ],
)
def test_param_conversion(param, raw, expected):
    assert param.convert(raw) == expected


@pytest.mark.parametrize(
    "param, raw, message",
    [
        (Param("steps", "int", 32, "h", minimum=1), "0", "at least"),
        (Param("steps", "int", 32, "h", maximum=10), "11", "at most"),
        (Param("steps", "int", 32, "h"), "2.5", "not a valid int"),
        (Param("eps", "float", 1.0, "h"), "abc", "not a valid float"),
        (Param("flag", "bool", True, "h"), "maybe", "not a valid bool"),
        (Param("fill", "choice", "zero", "h", choices=("zero", "black")), "pink", "choose one of"),
    ],
)
def test_param_rejects_bad_values(param, raw, message):
    with pytest.raises(MethodError, match=message):
        param.convert(raw)


def test_resolve_params_fills_defaults_and_rejects_unknown():
    info = MethodInfo(
        name="t.x", function=lambda: None, modality=("image",), title="t", help="h",
        params=(Param("a", "int", 1, "h"), Param("b", "float", 0.5, "h")),
    )
    assert info.resolve_params({"a": "3"}) == {"a": 3, "b": 0.5}
    with pytest.raises(MethodError, match="no parameter c"):
        info.resolve_params({"c": 1})
    assert parse_param_values(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(MethodError, match="no '='"):
        parse_param_values(["a"])


def test_cancel_token():
    token = CancelToken()
    token.check()
    token.cancel()
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.check()


def test_throttled_progress_keeps_first_last_and_newest_partial():
    now = [0.0]
    received = []
    progress = ThrottledProgress(lambda f, m, p: received.append((f, p)), interval=1.0, clock=lambda: now[0])
    progress(0.1, "", "p1")  # first report passes
    now[0] = 0.5
    progress(0.2, "", "p2")  # throttled, partial kept
    progress(0.3)  # throttled
    now[0] = 1.2
    progress(0.4)  # due: carries the newest pending partial
    now[0] = 1.3
    progress(1.0)  # final always passes
    assert received == [(0.1, "p1"), (0.4, "p2"), (1.0, None)]


def test_symmetric_levels_and_colorize():
    values = np.array([[-2.0, 0.0], [1.0, 4.0]])
    low, high = render.symmetric_levels(values, percentile=100)
    assert (low, high) == (-4.0, 4.0)
    colours = render.colorize(values, (low, high), "bwr")
    np.testing.assert_array_equal(colours[0, 1], render.COLORMAPS["bwr"][128])  # zero maps to the centre
    np.testing.assert_array_equal(colours[1, 1], render.COLORMAPS["bwr"][255])
    assert render.symmetric_levels(np.zeros((3, 3))) == (-1.0, 1.0)
    for name in render.DIVERGING_COLORMAPS:
        lut = render.COLORMAPS[name]
        assert lut.shape == (256, 3) and lut.dtype == np.uint8


def test_blend_overlay_extremes():
    image = np.full((2, 2, 3), 100, np.uint8)
    relevance = np.array([[1.0, -1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(render.blend_overlay(image, relevance, opacity=0.0), image)
    full = render.blend_overlay(image, relevance, cmap="bwr", opacity=1.0, levels=(-1, 1))
    np.testing.assert_array_equal(full[0, 0], (255, 0, 0))
    np.testing.assert_array_equal(full[0, 1], (0, 0, 255))
    with pytest.raises(ValueError):
        render.blend_overlay(image, np.zeros((3, 3)))


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out" / "file.bin"
    write_bytes_atomic(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]
    save_npy_atomic(tmp_path / "a.npy", np.arange(3))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.arange(3))
    write_json_atomic(tmp_path / "a.json", {"x": np.float32(1.5), "n": np.int64(2)})
    assert (tmp_path / "a.json").read_text().count("1.5") == 1


def test_staged_folder_is_all_or_nothing(tmp_path):
    from xaidesk.core.io import staged_folder

    target = tmp_path / "results"
    with pytest.raises(RuntimeError):
        with staged_folder(target) as folder:
            (folder / "a.txt").write_text("1")
            raise RuntimeError("failed half-way")
    assert list(tmp_path.iterdir()) == []  # neither the target nor the staging folder
    with staged_folder(target) as folder:
        (folder / "a.txt").write_text("new")
    assert (target / "a.txt").read_text() == "new"
    (target / "keep.txt").write_text("mine")
    with staged_folder(target) as folder:
        (folder / "a.txt").write_text("newer")
    assert (target / "a.txt").read_text() == "newer" and (target / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["results"]
