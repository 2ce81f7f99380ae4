"""Bad method parameters through every command that takes ``--param``: refused in one plain sentence."""

from __future__ import annotations

import shutil

import pytest

from xaidesk.models import list_builtin_models

DIGIT = list_builtin_models("image")[0]["samples"][0]

#: (method, --param value, what the message must say) for ``explain image`` on demo:digits.
IMAGE_CASES = [
    ("gradient.smoothgrad", "noise_level=nan", "finite number"),
    ("gradient.smoothgrad", "noise_level=inf", "finite number"),
    ("gradient.smoothgrad", "noise_level=-inf", "finite number"),
    ("gradient.smoothgrad", "noise_level=NaN", "finite number"),
    ("lrp.epsilon_plus_flat", "epsilon=nan", "finite number"),
    ("lrp.epsilon_plus_flat", "epsilon=inf", "finite number"),
    ("lrp.epsilon_gamma_box", "gamma=-inf", "finite number"),
    ("gradient.robust", "gamma=nan", "finite number"),
    ("lime", "kernel_width=nan", "finite number"),
    ("relax", "keep_probability=nan", "finite number"),
    ("relax", "tolerance=Infinity", "finite number"),
    ("gradient.smoothgrad", "noise_level=1e400", "finite number"),
    ("gradient.smoothgrad", "noise_level=2", "at most 1"),
    ("gradient.smoothgrad", "noise_level=-0.1", "at least 0"),
    ("gradient.smoothgrad", "noise_level=lots", "not a valid float"),
    ("gradient.smoothgrad", "samples=nan", "not a valid int"),
    ("gradient.smoothgrad", "samples=inf", "not a valid int"),
    ("gradient.smoothgrad", "samples=1.5", "not a valid int"),
    ("gradient.smoothgrad", "samples=four", "not a valid int"),
    ("gradient.smoothgrad", "samples=0", "at least 1"),
    ("gradient.smoothgrad", "samples=100001", "at most 10000"),
    ("relax", "num_masks=1e400", "not a valid int"),
    ("occlusion", "patch_size=-3", "at least 1"),
    ("occlusion", "stride=inf", "not a valid int"),
    ("gradient.smoothgrad", "aggregation=banana", "choose one of"),
    ("occlusion", "fill=nan", "choose one of"),
    ("occlusion", "scale_to_input=maybe", "not a valid bool"),
    ("gradient.smoothgrad", "colour=red", "no parameter colour"),
    ("gradient.smoothgrad", "samples4", "has no '='"),
    ("gradient.smoothgrad", "=3", "no name"),
    ("gradient.smoothgrad", "samples=", "not a valid int"),
    ("gradient.smoothgrad", "noise_level= ", "not a valid float"),
    ("gradient.sensitivity", "epsilon=0.1", "no parameter epsilon"),
    ("lrp.nope", "epsilon=0.1", "no method called"),
    ("neon.knn", "theta=auto", "does not work on images"),
]


@pytest.mark.parametrize("method, param, says", IMAGE_CASES)
def test_explain_image_refuses_the_parameter(refused, tmp_path, method, param, says):
    out = tmp_path / "out"
    refused(["explain", "image", DIGIT, "--model", "demo:digits", "--method", method, "--param", param,
             "--out", out], inputs=[DIGIT], out=out, says=[says])


@pytest.fixture
def small_table(tmp_path):
    path = tmp_path / "t.csv"
    rows = ["a,b,c"] + [f"{i % 7},{(i * 3) % 11},{(i * 5) % 13}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("method, param, says", [
    ("neon.kmeans", "theta=nan", "finite number"),
    ("neon.kmeans", "theta=inf", "finite number"),
    ("neon.knn", "gamma=nan", "finite number"),
    ("neon.kmeans", "beta=nan", "finite number"),
    ("neon.kde", "epsilon=-inf", "finite number"),
    ("neon.kmeans", "clusters=2.5", "not a valid int"),
])
def test_explain_table_refuses_the_parameter(refused, tmp_path, small_table, method, param, says):
    out = tmp_path / "out"
    refused(["explain", "table", small_table, "--method", method, "--param", param, "--out", out],
            inputs=[small_table], out=out, says=[says])


@pytest.mark.parametrize("method, param, says", [
    ("ridge.pairs", "sigma=nan", "finite number"),
    ("ridge.atoms", "test_fraction=inf", "finite number"),
    ("ridge.pairs", "r_max=-inf", "finite number"),
])
def test_explain_molecules_refuses_the_parameter_before_reading(refused, tmp_path, method, param, says):
    out = tmp_path / "out"
    refused(["explain", "molecules", tmp_path / "none", "--energies", tmp_path / "none.txt", "--method", method,
             "--param", param, "--out", out], out=out, says=[says])


@pytest.mark.parametrize("command, param, says", [
    ("evaluate", "gradient.smoothgrad:noise_level=nan", "finite number"),
    ("evaluate", "noise_level=inf", "finite number"),
    ("evaluate", "gradient.smoothgrad:samples=nan", "not a valid int"),
    ("batch", "noise_level=nan", "finite number"),
    ("batch", "gradient.smoothgrad:noise_level=-inf", "finite number"),
])
def test_evaluate_and_batch_refuse_the_parameter(refused, tmp_path, command, param, says):
    out = tmp_path / "out"
    if command == "evaluate":
        source = DIGIT
        argv = ["evaluate", "image", DIGIT, "--model", "demo:digits", "--methods", "gradient.smoothgrad"]
    else:
        source = tmp_path / "in"
        source.mkdir()
        shutil.copy(DIGIT, source / "a.png")
        argv = ["batch", source, "--model", "demo:digits", "--methods", "gradient.smoothgrad"]
    refused([*argv, "--param", param, "--out", out], inputs=[source], out=out, says=[says])
