"""Headless rendering: unseen pixels, overlays at full size, titled figures with a colour bar."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from xaidesk.core import render
from xaidesk.models.preprocessing import IMAGENET


def _image(height: int = 40, width: int = 60) -> np.ndarray:
    return (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)


def test_unseen_pixels_stay_grey_and_do_not_set_levels_or_statistics():
    image = _image()
    relevance = np.full((40, 60), np.nan, np.float32)
    relevance[10:30, 20:40] = 0.5
    relevance[15, 25] = -0.25
    overlay = render.blend_overlay(image, relevance, cmap="bwr", opacity=0.8)
    np.testing.assert_array_equal(overlay[0, 0], render.grayscale(image)[0, 0])
    assert not np.array_equal(overlay[20, 30], render.grayscale(image)[20, 30])
    assert render.symmetric_levels(relevance, percentile=100) == (-0.5, 0.5)
    stats = render.relevance_stats(relevance)
    assert stats["min"] == -0.25 and stats["max"] == 0.5 and np.isfinite(stats["sum"])
    assert render.unseen_count(relevance) == 40 * 60 - 20 * 20


def test_cropped_map_marks_the_border_as_unseen_in_the_overlay():
    image = _image(200, 300)
    relevance = IMAGENET.to_original(np.ones((224, 224), np.float32), (200, 300), preserve="value")
    overlay = render.blend_overlay(image, relevance, cmap="coldnhot", opacity=1.0)
    grey = render.grayscale(image)
    np.testing.assert_array_equal(overlay[:, :20], grey[:, :20])
    assert (overlay[100, 150] != grey[100, 150]).any()


def test_colour_meaning_names_the_class_and_both_colours():
    assert render.colour_meaning("signed", "3") == "red: evidence for '3' · blue: against · white: neither"
    assert "against" not in render.colour_meaning("unsigned", "3", "viridis", (0.0, 1.0))


def test_map_colour_meaning_follows_the_method_and_the_map():
    signed_map = np.array([[-1.0, 2.0], [0.5, np.nan]])
    assert "against" in render.map_colour_meaning(signed_map, "cat", signed=True)
    assert "against" not in render.map_colour_meaning(signed_map, "cat", signed=False)
    assert "against" not in render.map_colour_meaning(np.abs(signed_map), "cat", "viridis")


@pytest.mark.parametrize("file_format", ["png", "pdf", "svg"])
def test_figure_has_title_colour_bar_label_and_unseen_note(file_format):
    image = _image(200, 300)
    relevance = IMAGENET.to_original(np.random.default_rng(1).normal(size=(224, 224)).astype(np.float32),
                                     (200, 300), preserve="value")
    data = render.figure_bytes(image, relevance, title="Occlusion · class 3 · model demo",
                               colorbar_label="relevance · red: evidence for '3' · blue: against",
                               cmap="bwr", file_format=file_format)
    if file_format == "png":
        picture = Image.open(io.BytesIO(data))
        assert picture.format == "PNG" and picture.size[0] > 300
    elif file_format == "svg":
        text = data.decode("utf-8")
        assert "Occlusion · class 3 · model demo" in text and "blue: against" in text and "not seen" in text
    else:
        assert data.startswith(b"%PDF")


def test_save_figure_writes_the_format_of_its_suffix(tmp_path):
    image = _image()
    relevance = np.linspace(-1, 1, 40 * 60, dtype=np.float32).reshape(40, 60)
    path = render.save_figure(tmp_path / "figure.svg", image, relevance, title="t", colorbar_label="c")
    assert path.read_bytes().lstrip().startswith(b"<?xml") and not list(tmp_path.glob(".*"))
    with pytest.raises(ValueError):
        render.save_figure(tmp_path / "figure.gif", image, relevance, title="t", colorbar_label="c")


def test_spray_reads_heatmaps_with_an_unseen_border(tmp_path):
    import json

    from xaidesk.evaluate.spray import load_run_heatmaps, spray

    run = tmp_path / "run"
    (run / "items" / "occlusion").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"format": "xaidesk-batch/1", "modality": "image", "model": "demo:x",
                                              "methods": [{"name": "occlusion", "params": {}}]}))
    lines = ["file,true_class,predicted,predicted_label,score,target,target_label,method,relevance,thumbnail,seconds"]
    rng = np.random.default_rng(0)
    for i in range(8):
        relevance = IMAGENET.to_original(rng.normal(size=(224, 224)).astype(np.float32), (200, 300), "value")
        np.save(run / "items" / "occlusion" / f"img_{i}.npy", relevance)
        lines.append(f"img_{i}.png,a,0,a,1.0,0,a,occlusion,items/occlusion/img_{i}.npy,,0.1")
    (run / "index.csv").write_text("\n".join(lines) + "\n")
    heatmaps = load_run_heatmaps(run)
    assert len(heatmaps.maps) == 8 and all(np.isfinite(m).all() for m in heatmaps.maps)
    result = spray(heatmaps.maps, size=8, n_neighbors=3)
    assert len(result.labels) == 8


def _cropping_model_file(tmp_path):
    import json

    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 16 * 16, 3)).eval()
    path = tmp_path / "cropper.pt"
    torch.jit.trace(net, torch.zeros(1, 3, 16, 16)).save(str(path))
    sidecar = {"class_names": ["a", "b", "c"],
               "preprocessing": {"size": [16, 16], "mean": [0.5] * 3, "std": [0.5] * 3, "channels": "rgb", "resize": 20}}
    (tmp_path / "cropper.pt.json").write_text(json.dumps(sidecar))
    Image.fromarray(_image(40, 60)).save(tmp_path / "input.png")
    return path


def test_cli_marks_unseen_pixels_and_whole_image_explains_every_pixel(tmp_path):
    import json

    from xaidesk.cli import main

    model = _cropping_model_file(tmp_path)
    argv = ["explain", "image", str(tmp_path / "input.png"), "--model", f"file:{model}", "--method", "occlusion",
            "--param", "patch_size=4", "--param", "stride=4"]
    assert main([*argv, "--out", str(tmp_path / "cropped")]) == 0
    relevance = np.load(tmp_path / "cropped" / "relevance.npy")
    summary = json.loads((tmp_path / "cropped" / "summary.json").read_text())
    assert relevance.shape == (40, 60) and np.isnan(relevance[:, :5]).all() and np.isfinite(relevance[20, 30])
    assert summary["unseen_pixels"] == int(np.isnan(relevance).sum()) > 0
    assert Image.open(tmp_path / "cropped" / "overlay.png").size == (60, 40)
    assert not (tmp_path / "cropped" / "figure.png").exists()

    assert main([*argv, "--whole-image", "--figure", "--out", str(tmp_path / "whole")]) == 0
    whole = np.load(tmp_path / "whole" / "relevance.npy")
    summary = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert np.isfinite(whole).all() and summary["unseen_pixels"] == 0
    assert summary["preprocessing"]["resize"] is None and "whole image" in summary["preprocessing"]["name"]
    assert Image.open(tmp_path / "whole" / "figure.png").format == "PNG"
