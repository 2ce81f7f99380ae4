"""One writer per export: the CLI and the GUI write the same files (xaidesk/export)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from helpers import write_molecules
from xaidesk.cli import main
from xaidesk.core import CancelToken, Explanation, Target, get_method
from xaidesk.export.images import uncertainty_path_for, write_explanation, write_relevance


@pytest.mark.parametrize("method", ["ridge.atoms", "ridge.pairs"])
def test_the_cli_and_the_molecules_tab_write_byte_identical_csv_files(tmp_path, capsys, method):
    pytest.importorskip("PySide6")
    from xaidesk.data.molecules import load_molecules
    from xaidesk.gui.tabs.molecules_tab import MoleculesTab

    folder, energies = write_molecules(tmp_path)
    out = tmp_path / "cli"
    params = ["--param", "seed=2"] + (["--param", "n_bins=8"] if method == "ridge.pairs" else [])
    assert main(["explain", "molecules", str(folder), "--energies", str(energies), "--method", method,
                 *params, "--out", str(out)]) == 0, capsys.readouterr().err

    # The same model, fitted as the tab's training job does, exported through the tab's own methods.
    mols = load_molecules(folder, energies)
    info = get_method(method)
    values = {"seed": "2", **({"n_bins": "8"} if method == "ridge.pairs" else {})}
    model = info.function(None, mols, None, params=info.resolve_params(values), token=CancelToken(),
                          progress=lambda *a, **k: None).extras["model"]
    global_name = "element_energies.csv" if method == "ridge.atoms" else "pair_potentials.csv"
    tab = SimpleNamespace(model=model, decomposition=None)
    MoleculesTab.export_global_csv(tab, tmp_path / global_name)
    assert (tmp_path / global_name).read_bytes() == (out / global_name).read_bytes()

    # decompositions.csv holds every test molecule: the tab's one-molecule exports, joined under one header.
    bodies = []
    for index in model.split["test"]:
        tab.decomposition = model.decompose(mols, int(index))
        path = MoleculesTab.export_decomposition_csv(tab, tmp_path / "one.csv")
        header, *rows = path.read_bytes().splitlines(keepends=True)
        bodies += rows
    assert header + b"".join(bodies) == (out / "decompositions.csv").read_bytes()
    assert header.startswith(b"molecule,type,atom_i,atom_j,element_i,element_j,distance_angstrom,contribution_")


def test_the_cli_and_the_tables_tab_write_the_same_table_files(tmp_path, capsys):
    pytest.importorskip("PySide6")
    from xaidesk.data.tables import load_table
    from xaidesk.explain.table import explain_table
    from xaidesk.gui.tabs.tables_tab import TablesTab

    rng = np.random.default_rng(0)
    data = rng.normal(size=(40, 3))
    csv = tmp_path / "t.csv"
    csv.write_text("a,b,c\n" + "".join(f"{x:.5f},{y:.5f},{z:.5f}\n" for x, y, z in data))
    out = tmp_path / "cli"
    assert main(["explain", "table", str(csv), "--method", "neon.kmeans", "--param", "clusters=2",
                 "--out", str(out)]) == 0, capsys.readouterr().err

    table = load_table(csv)
    result = explain_table(table, "neon.kmeans", {"clusters": "2"}, token=CancelToken(), progress=lambda *a, **k: None)
    tab = SimpleNamespace(result=result, table=table, target_column=lambda: None)
    gui = TablesTab.export_results(tab, tmp_path / "gui")
    for name in ("scores.csv", "relevance.csv"):
        assert (gui / name).read_bytes() == (out / name).read_bytes()
    cli_summary, gui_summary = (json.loads((f / "summary.json").read_text()) for f in (out, gui))
    assert cli_summary.pop("seconds") >= 0 and gui_summary.pop("seconds") >= 0
    assert gui_summary == cli_summary


def _explanation(uncertainty: bool, segments: bool = False) -> Explanation:
    relevance = np.arange(12, dtype=np.float32).reshape(3, 4)
    extras = {}
    if segments:
        extras = {"segments": np.array([[0, 0, 1, 1]] * 3), "segment_weights": [0.25, -1.5]}
    return Explanation(relevance=relevance, method="occlusion", target=Target(1, "one"),
                       uncertainty=relevance / 10 if uncertainty else None, extras=extras)


@pytest.mark.parametrize("name, expected", [("relevance.npy", "uncertainty.npy"),
                                            ("cat_relevance.npy", "cat_uncertainty.npy"),
                                            ("map.npy", "map_uncertainty.npy")])
def test_the_uncertainty_file_is_named_after_the_relevance_file(tmp_path, name, expected):
    assert uncertainty_path_for(tmp_path / name) == tmp_path / expected


def test_write_relevance_adds_the_uncertainty_beside_it_only_when_there_is_one(tmp_path):
    path = write_relevance(tmp_path / "x_relevance.npy", _explanation(uncertainty=True))
    assert np.array_equal(np.load(path), _explanation(False).relevance)
    assert np.allclose(np.load(tmp_path / "x_uncertainty.npy"), _explanation(False).relevance / 10)
    write_relevance(tmp_path / "plain.npy", _explanation(uncertainty=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.npy", "x_relevance.npy", "x_uncertainty.npy"]


def test_write_explanation_writes_the_folder_as_a_set(tmp_path):
    curve = SimpleNamespace(fractions=[0.0, 0.5], curves={"morf": [2.0, 1.0], "random": [2.0, 1.5]})
    overlay = np.zeros((3, 4, 3), dtype=np.uint8)
    out = write_explanation(tmp_path / "out", _explanation(True, segments=True), overlay, {"method": "occlusion"},
                            curve, figure=b"\x89PNG")
    assert sorted(p.name for p in out.iterdir()) == [
        "figure.png", "overlay.png", "pixel_flipping.csv", "relevance.npy", "segments.csv", "segments.npy",
        "summary.json", "uncertainty.npy"]
    assert (out / "segments.csv").read_text() == "segment,weight,cells\n0,0.25,6\n1,-1.5,6\n"
    assert (out / "pixel_flipping.csv").read_text().splitlines() == [
        "fraction_removed,score,random_order_score", "0,2,2", "0.5,1,1.5"]
    assert json.loads((out / "summary.json").read_text()) == {"method": "occlusion"}
