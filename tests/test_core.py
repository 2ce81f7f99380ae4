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


# --- issue 12: non-finite parameters, strict JSON, normal permissions, writable output ----------


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"])
def test_every_float_parameter_refuses_non_finite_values(raw):
    float_params = [(m, p) for m in list_methods() for p in m.params if p.kind == "float"]
    assert float_params
    for method, param in float_params:
        with pytest.raises(MethodError, match="finite number"):
            method.resolve_params({param.name: raw})


def test_text_parameters_refuse_non_finite_numbers_but_keep_words():
    theta = next(p for m in list_methods("table") for p in m.params if p.name == "theta")
    for raw in ("nan", "-inf", "inf"):
        with pytest.raises(MethodError, match="finite number"):
            theta.convert(raw)
    assert theta.convert("auto") == "auto"
    assert theta.convert("0.5") == "0.5"


def test_int_parameters_refuse_non_finite_values():
    param = Param("n", "int", 3, "count", minimum=1)
    for raw in ("nan", "inf"):
        with pytest.raises(MethodError, match="not a valid int"):
            param.convert(raw)


def test_a_parameter_without_a_name_is_refused():
    with pytest.raises(MethodError, match="no name"):
        parse_param_values(["=3"])


def test_json_writes_null_for_non_finite_numbers(tmp_path):
    import json

    path = write_json_atomic(tmp_path / "s.json", {"a": float("nan"), "b": [np.float32("inf"), 1.5],
                                                     "c": np.array([np.nan, 2.0]), "d": {"e": -np.inf}})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text

    def refuse(constant):
        raise AssertionError(f"bare {constant} in JSON")

    assert json.loads(text, parse_constant=refuse) == {"a": None, "b": [None, 1.5], "c": [None, 2.0], "d": {"e": None}}


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                           (0o002, 0o664, 0o775)])
def test_written_files_get_the_users_normal_permissions(tmp_path, umask, file_mode, folder_mode):
    from xaidesk.core.io import staged_folder

    previous = os.umask(umask)
    try:
        written = write_bytes_atomic(tmp_path / "a.bin", b"x")
        with staged_folder(tmp_path / "set") as folder:
            write_json_atomic(folder / "summary.json", {"a": 1})
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "set").stat().st_mode & 0o777 == folder_mode
    assert (tmp_path / "set" / "summary.json").stat().st_mode & 0o777 == file_mode


def test_output_folder_check_refuses_unwritable_places(tmp_path):
    from xaidesk.core import InputError
    from xaidesk.core.io import check_output_folder

    afile = tmp_path / "file.txt"
    afile.write_text("x")
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    cases = {"": "empty", "  ": "empty", afile: "is a file", afile / "sub": "is a file",
             loop: "leads nowhere", loop / "sub": "leads nowhere", "/proc/xaidesk-out": "cannot be written",
             "/proc": "cannot be written"}
    for target, says in cases.items():
        with pytest.raises(InputError, match=says):
            check_output_folder(target)
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "loop", "loop2"], "the check left files"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_output_folder_check_refuses_a_read_only_folder(tmp_path):
    from xaidesk.core import InputError
    from xaidesk.core.io import check_output_folder

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for target in (locked, locked / "out"):
            with pytest.raises(InputError, match="cannot be written"):
                check_output_folder(target)
    finally:
        locked.chmod(0o755)


def test_progress_off_a_terminal_prints_a_throttled_line_with_percent():
    import io

    from xaidesk.commands.common import CliProgress

    now = [0.0]
    stream = io.StringIO()
    progress = CliProgress(stream=stream, interval=5.0, clock=lambda: now[0])
    for step in range(100):
        now[0] = step * 0.5  # 50 s in all
        progress(step / 100, "RELAX masks")
    progress.done()
    lines = stream.getvalue().splitlines()
    assert 8 <= len(lines) <= 10, lines
    assert lines[0] == "xaidesk: progress 10% (RELAX masks), 5 s so far"
    assert all(line.startswith("xaidesk: progress ") and "\r" not in line for line in lines)


def test_a_short_run_off_a_terminal_prints_no_progress():
    import io

    from xaidesk.commands.common import CliProgress

    stream = io.StringIO()
    progress = CliProgress(stream=stream, interval=5.0, clock=lambda: 1.0)
    progress(0.5, "half")
    progress.done()
    assert stream.getvalue() == ""


def test_output_folder_check_names_a_read_only_folder_even_for_root(tmp_path, monkeypatch):
    import errno
    import tempfile

    from xaidesk.core import InputError
    from xaidesk.core.io import check_output_folder

    locked = tmp_path / "locked"
    locked.mkdir()
    real_mkdtemp = tempfile.mkdtemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and os.path.samefile(dir, locked):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    for target in (locked, locked / "results"):
        with pytest.raises(InputError, match=r"folder '.*locked' cannot be written to \(read-only file system\)"):
            check_output_folder(target)
    assert list(locked.iterdir()) == []


def test_registry_says_which_methods_explain_no_class():
    relax = get_method("relax")
    assert relax.explains_class is False
    assert relax.to_dict()["explains_class"] is False
    lrp = get_method("lrp.epsilon_plus_flat")
    assert lrp.explains_class is True and lrp.to_dict()["explains_class"] is True


def test_figure_title_leaves_out_an_empty_class():
    assert render.figure_title("LRP", "class 3", "digits CNN") == "LRP · class 3 · digits CNN"
    assert render.figure_title("RELAX", "", "digits CNN") == "RELAX · digits CNN"


def test_shared_parameters_keep_their_titles_and_conditions_wherever_they_are_reused():
    from xaidesk.core import list_methods
    from xaidesk.explain.table import THETA

    thetas = [p for info in list_methods("table") for p in info.params if p.name == "theta"]
    assert len(thetas) >= 3 and all(p.choice_titles == THETA.choice_titles for p in thetas)
    custom = next(info for info in list_methods("image") if info.name == "lrp.custom")
    epsilon = next(p for p in custom.params if p.name == "epsilon")
    assert epsilon.shown_when == {"top_rule": ("epsilon",)} and epsilon.label
