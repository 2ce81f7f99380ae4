"""Bad and awkward image files through ``explain image`` and ``evaluate image``."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from xaidesk.models import list_builtin_models

DIGIT = list_builtin_models("image")[0]["samples"][0]


def _float_tiff(path, value):
    values = np.linspace(0.0, 1.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    values[5, 6] = value
    Image.fromarray(values, mode="F").save(path)


def _write(kind: str, path):
    """Write the awkward file ``kind`` at ``path`` (named as the test wants)."""
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "text":
        path.write_text("hello, I am not a picture\n")
    elif kind == "html":
        path.write_text("<!doctype html><html><body>404 Not Found</body></html>\n")
    elif kind == "garbage":
        path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
    elif kind == "png_header_only":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR")
    elif kind == "one_pixel":
        Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    elif kind == "thin":
        Image.new("RGB", (7, 100), (10, 20, 30)).save(path)
    elif kind == "strip":
        Image.new("L", (100_000, 8), 128).save(path)
    elif kind == "nan_tiff":
        _float_tiff(path, np.nan)
    elif kind == "inf_tiff":
        _float_tiff(path, np.inf)
    elif kind == "minus_inf_tiff":
        _float_tiff(path, -np.inf)
    elif kind == "npy":
        np.save(path, np.full((32, 32, 3), np.nan))
    elif kind == "bad_crc":
        Image.new("RGB", (32, 32), (200, 10, 10)).save(path)
        data = bytearray(path.read_bytes())
        data[-20] ^= 0xFF  # inside the image data chunk
        path.write_bytes(bytes(data))
    elif kind == "zlib_bomb_header":
        header = b"\x89PNG\r\n\x1a\n"
        ihdr = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        path.write_bytes(header + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    else:
        raise ValueError(kind)
    return path


@pytest.mark.parametrize("kind, name, says", [
    ("empty", "empty.png", "is empty (0 bytes)"),
    ("truncated", "cut.png", "damaged or incomplete"),
    ("text", "text.png", "not an image that can be read"),
    ("html", "page.jpg", "not an image that can be read"),
    ("garbage", "noise.bmp", "not an image that can be read"),
    ("png_header_only", "header.png", "damaged or incomplete"),
    ("one_pixel", "dot.png", "only 1x1 pixels"),
    ("thin", "thin.png", "only 7x100 pixels"),
    ("strip", "strip.png", "too elongated"),
    ("nan_tiff", "nan.tif", "not numbers (NaN) or infinite"),
    ("inf_tiff", "inf.tiff", "not numbers (NaN) or infinite"),
    ("minus_inf_tiff", "minus_inf.tif", "not numbers (NaN) or infinite"),
    ("npy", "values.npy", "not an image that can be read"),
    ("bad_crc", "crc.png", "damaged or incomplete"),
    ("zlib_bomb_header", "huge.png", "too large to open"),
])
def test_explain_image_refuses_the_file(refused, tmp_path, kind, name, says):
    path = _write(kind, tmp_path / name)
    out = tmp_path / "out"
    refused(["explain", "image", path, "--model", "demo:digits", "--method", "gradient.sensitivity", "--out", out],
            inputs=[path], out=out, says=[says])


@pytest.mark.parametrize("kind, says", [("nan_tiff", "not numbers (NaN)"), ("strip", "too elongated"),
                                        ("truncated", "damaged or incomplete")])
def test_evaluate_image_refuses_the_file(refused, tmp_path, kind, says):
    path = _write(kind, tmp_path / f"x.{'tif' if 'tiff' in kind else 'png'}")
    out = tmp_path / "out"
    refused(["evaluate", "image", path, "--model", "demo:digits", "--methods", "gradient.sensitivity", "--out", out],
            inputs=[path], out=out, says=[says])


def _link_loop(tmp_path):
    loop = tmp_path / "loop.png"
    loop.symlink_to(tmp_path / "loop2.png")
    (tmp_path / "loop2.png").symlink_to(loop)
    return loop


@pytest.mark.parametrize("make, says", [
    (_link_loop, "is a link loop"),
    (lambda tmp: (tmp / "broken.png").symlink_to(tmp / "gone.png") or tmp / "broken.png", "which does not exist"),
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: tmp / "missing.png", "does not exist"),
])
def test_paths_that_are_not_image_files(refused, tmp_path, make, says):
    path = make(tmp_path)
    out = tmp_path / "out"
    refused(["explain", "image", path, "--model", "demo:digits", "--method", "gradient.sensitivity", "--out", out],
            out=out, says=[says])


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_an_unreadable_image(refused, tmp_path):
    path = tmp_path / "secret.png"
    Image.new("RGB", (32, 32)).save(path)
    path.chmod(0)
    try:
        refused(["explain", "image", path, "--model", "demo:digits", "--method", "gradient.sensitivity",
                 "--out", tmp_path / "out"], says=["could not be read"])
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("make, says", [
    (lambda p: Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(p), "Transparent areas are shown on white"),
    (lambda p: Image.fromarray(np.full((40, 40), 40000, np.uint16)).save(p), "16-bit image reduced"),
    (lambda p: Image.new("RGB", (8192, 32), (90, 90, 90)).save(p), "Downscaled from 8192x32"),
    (lambda p: Image.fromarray(np.linspace(-5, 5, 1600, dtype=np.float32).reshape(40, 40), mode="F").save(p),
     "stretched to 0-255"),
])
def test_usable_images_are_explained_with_a_notice(accepted, tmp_path, make, says):
    path = tmp_path / ("in.tif" if "stretched" in says else "in.png")
    make(path)
    out = tmp_path / "out"
    accepted(["explain", "image", path, "--model", "demo:digits", "--method", "gradient.sensitivity", "--out", out],
             inputs=[path], says=[says])
    assert (out / "summary.json").is_file()
