"""Opening images: every odd file is handled or refused in plain words, never a crash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from xaidesk.core import InputError
from xaidesk.data.images import MAX_SIDE, load_image


def _save(path, image, **kwargs):
    image.save(path, **kwargs)
    return path


def test_rgb_png_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = _save(tmp_path / "a.png", Image.fromarray(pixels))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.pixels, pixels)
    assert loaded.notices == []
    assert loaded.original_size == (30, 20)


def test_input_file_is_not_modified(tmp_path):
    path = _save(tmp_path / "a.png", Image.fromarray(np.zeros((16, 16, 3), np.uint8)))
    before = path.read_bytes()
    loaded = load_image(path)
    with pytest.raises(ValueError):
        loaded.pixels[0, 0, 0] = 1  # read-only view
    assert path.read_bytes() == before


def test_truncated_png_is_a_plain_error(tmp_path):
    data = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(data, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(InputError, match="damaged or incomplete"):
        load_image(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 10)
    with pytest.raises(InputError, match="not an image"):
        load_image(path)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(empty)
    with pytest.raises(InputError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="folder"):
        load_image(tmp_path)


def test_one_pixel_image_is_refused(tmp_path):
    path = _save(tmp_path / "dot.png", Image.new("RGB", (1, 1), (10, 20, 30)))
    with pytest.raises(InputError, match="1x1"):
        load_image(path)


def test_16_bit_grayscale(tmp_path):
    values = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    path = _save(tmp_path / "deep.png", Image.fromarray(values))
    loaded = load_image(path)
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == (32, 32, 3)
    np.testing.assert_allclose(loaded.pixels[..., 0], np.round(values / 257.0), atol=1)
    assert loaded.pixels[0, 0, 0] == 0 and loaded.pixels[-1, -1, 0] == 255
    assert any("16-bit" in n for n in loaded.notices)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    loaded = load_image(_save(tmp_path / "g.png", Image.fromarray(gray, "L")))
    for channel in range(3):
        np.testing.assert_array_equal(loaded.pixels[..., channel], gray)


def test_palette_image(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, 8:] = (200, 30, 40)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    loaded = load_image(_save(tmp_path / "p.png", palette))
    np.testing.assert_array_equal(loaded.pixels[0, 12], (200, 30, 40))
    np.testing.assert_array_equal(loaded.pixels[0, 0], (0, 0, 0))


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :8, 3] = 0  # left half fully transparent
    rgba[:, 8:, 3] = 255
    loaded = load_image(_save(tmp_path / "a.png", Image.fromarray(rgba, "RGBA")))
    np.testing.assert_array_equal(loaded.pixels[0, 0], (255, 255, 255))
    np.testing.assert_array_equal(loaded.pixels[0, 15], (255, 0, 0))
    assert any("white" in n for n in loaded.notices)


def test_exif_rotation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)  # wide image with a red left edge
    pixels[:, :4] = (255, 0, 0)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "camera.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    loaded = load_image(path)
    assert loaded.pixels.shape[:2] == (40, 20)
    assert loaded.pixels[1, 10, 0] > 200 and loaded.pixels[-2, 10, 0] < 60  # red edge now on top
    assert any("orientation" in n for n in loaded.notices)


def test_very_large_jpeg_is_downscaled_while_decoding(tmp_path):
    import tracemalloc

    big = Image.new("RGB", (12000, 9000), (90, 120, 200))
    path = tmp_path / "huge.jpg"
    big.save(path, quality=70)
    del big
    tracemalloc.start()
    loaded = load_image(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert max(loaded.pixels.shape[:2]) <= MAX_SIDE
    assert loaded.pixels.shape[1] / loaded.pixels.shape[0] == pytest.approx(12000 / 9000, rel=0.01)
    assert any("Downscaled" in n or "reduced size" in n for n in loaded.notices)
    assert peak < 12000 * 9000 * 3 / 2  # never held a full-size decode


def test_multiframe_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    loaded = load_image(path)
    assert loaded.pixels[0, 0, 0] > 200
    assert any("frames" in n for n in loaded.notices)


# --- issue 12: invalid pixel values, elongated images, links -----------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_float_image_with_invalid_values_is_refused_not_blackened(tmp_path, value):
    values = np.linspace(0.0, 1.0, 16 * 16, dtype=np.float32).reshape(16, 16)
    values[3, 4] = value
    path = _save(tmp_path / "bad.tif", Image.fromarray(values, mode="F"))
    with pytest.raises(InputError, match=r"holds 1 pixel value\(s\) that are not numbers \(NaN\) or infinite"):
        load_image(path)


def test_a_valid_float_image_is_still_stretched(tmp_path):
    values = np.linspace(-1.0, 3.0, 16 * 16, dtype=np.float32).reshape(16, 16)
    image = load_image(_save(tmp_path / "ok.tif", Image.fromarray(values, mode="F")))
    assert image.pixels.min() == 0 and image.pixels.max() == 255


def test_an_image_too_elongated_to_shrink_is_refused_with_the_reason(tmp_path):
    path = _save(tmp_path / "strip.png", Image.new("RGB", (100_000, 8)))
    with pytest.raises(InputError, match=r"100000x8 pixels, too elongated.*0 pixel\(s\) across, below the 8x8"):
        load_image(path)
    assert load_image(_save(tmp_path / "wide.png", Image.new("RGB", (8192, 16)))).pixels.shape == (8, 4096, 3)


def test_links_that_lead_nowhere_say_so(tmp_path):
    loop = tmp_path / "loop.png"
    loop.symlink_to(tmp_path / "other.png")
    (tmp_path / "other.png").symlink_to(loop)
    with pytest.raises(InputError, match="is a link loop"):
        load_image(loop)
    broken = tmp_path / "broken.png"
    broken.symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match=r"is a link to '.*gone.png', which does not exist"):
        load_image(broken)


def test_a_constant_float_image_is_grey_and_says_so(tmp_path):
    path = _save(tmp_path / "flat.tif", Image.fromarray(np.full((16, 16), 7.5, np.float32), mode="F"))
    image = load_image(path)
    assert (image.pixels == 128).all()
    assert image.notices == ["Every pixel has the value 7.5: shown as plain grey."]
