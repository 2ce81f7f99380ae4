"""Prototype folders: the one writer of fitted prototypes (PCX), and reading them back.

A folder holds

- ``prototypes.csv``: per prototype its weight, number of members, top concepts with their shares and
  closest samples;
- ``assignments.csv``: per sample its file, prototype, log-likelihood and percentile;
- ``prototype_means.npy``: ``(K, C)`` each prototype's mean concept shares;
- ``mixture.npz``: the projection and the mixture, so that new samples can be judged after reopening;
- ``prototypes.json``: the settings, weights, members and closest samples.

The folder is written as a whole (:func:`xaidesk.core.io.staged_folder`): it is complete or absent.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..core import InputError
from ..core.io import check_output_folder, csv_field, csv_number, json_text, staged_folder
from .prototypes import Mixture, Prototypes

FORMAT = "xaidesk-prototypes/1"
PROTOTYPE_FILES = ("prototypes.csv", "assignments.csv", "prototype_means.npy", "mixture.npz", "prototypes.json")
#: Top concepts listed per prototype in prototypes.csv.
TOP = 10


def _prototypes_csv(prototypes: Prototypes) -> str:
    lines = ["prototype,weight,members,top_concepts,closest_files"]
    for c in range(prototypes.count):
        top = ";".join(f"{channel}:{share:.4f}" for channel, share in prototypes.top_concepts(c, TOP))
        lines.append(",".join([str(c), csv_number(prototypes.weights[c]), str(len(prototypes.members[c])),
                               csv_field(top), csv_field(";".join(prototypes.closest_files[c]))]))
    return "\n".join(lines) + "\n"


def _assignments_csv(prototypes: Prototypes) -> str:
    lines = ["file,prototype,log_likelihood,percentile"]
    for file, c, value, percentile in zip(prototypes.files, prototypes.assignments, prototypes.log_likelihood,
                                          prototypes.percentiles):
        lines.append(",".join([csv_field(file), str(int(c)), csv_number(value), csv_number(percentile)]))
    return "\n".join(lines) + "\n"


def _mixture_arrays(model: Mixture) -> dict:
    pca, mixture = model.pca, model.mixture
    return {"pca_mean": pca.mean_, "pca_components": pca.components_,
            "pca_explained_variance": pca.explained_variance_, "weights": mixture.weights_,
            "means": mixture.means_, "covariances": mixture.covariances_,
            "precisions_cholesky": mixture.precisions_cholesky_,
            "covariance_type": np.array(mixture.covariance_type), "floor": np.array(model.floor)}


def _mixture_from(arrays) -> Mixture:
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    components = arrays["pca_components"]
    pca = PCA(n_components=components.shape[0])
    pca.mean_, pca.components_ = arrays["pca_mean"], components
    pca.explained_variance_ = arrays["pca_explained_variance"]
    pca.n_components_, pca.n_features_in_ = components.shape
    kind = str(arrays["covariance_type"])
    mixture = GaussianMixture(len(arrays["weights"]), covariance_type=kind)
    mixture.weights_, mixture.means_ = arrays["weights"], arrays["means"]
    mixture.covariances_, mixture.precisions_cholesky_ = arrays["covariances"], arrays["precisions_cholesky"]
    cholesky = arrays["precisions_cholesky"]
    if kind == "full":
        mixture.precisions_ = np.einsum("kij,klj->kil", cholesky, cholesky)
    elif kind == "tied":
        mixture.precisions_ = cholesky @ cholesky.T
    else:
        mixture.precisions_ = cholesky ** 2
    mixture.n_features_in_ = components.shape[0]
    mixture.converged_, mixture.n_iter_, mixture.lower_bound_ = True, 0, 0.0
    return Mixture(pca, mixture, float(arrays["floor"]))


def write_prototypes(prototypes: Prototypes, out_dir) -> Path:
    """Write ``prototypes`` into the folder ``out_dir`` (created or updated as a whole); returns it."""
    target = check_output_folder(out_dir)
    summary = {"format": FORMAT, "settings": prototypes.settings, "weights": prototypes.weights.tolist(),
               "members": [m.tolist() for m in prototypes.members],
               "closest": [c.tolist() for c in prototypes.closest],
               "files": [name for name in PROTOTYPE_FILES if prototypes.model is not None or name != "mixture.npz"]}
    with staged_folder(target, stale=PROTOTYPE_FILES) as stage:
        (stage / "prototypes.csv").write_text(_prototypes_csv(prototypes), encoding="utf-8")
        (stage / "assignments.csv").write_text(_assignments_csv(prototypes), encoding="utf-8")
        np.save(stage / "prototype_means.npy", np.asarray(prototypes.means, dtype=np.float64))
        if prototypes.model is not None:
            np.savez(stage / "mixture.npz", **_mixture_arrays(prototypes.model))
        (stage / "prototypes.json").write_text(json_text(summary) + "\n", encoding="utf-8")
    return target


def read_prototypes(out_dir) -> Prototypes:
    """Reopen a folder written by :func:`write_prototypes`, with its mixture when ``mixture.npz`` is there
    (so :func:`~xaidesk.concepts.prototypes.typicality` works on the result)."""
    folder = Path(out_dir)
    summary_path = folder / "prototypes.json"
    if not summary_path.is_file():
        raise InputError(f"'{folder}' holds no prototypes (prototypes.json is missing); choose a folder "
                         "saved from the Prototypes window or written by `xaidesk concepts prototypes`.")
    try:
        summary = json.loads(summary_path.read_text("utf-8"))
        if summary.get("format") != FORMAT:
            raise ValueError(f"unknown format {summary.get('format')!r}")
        means = np.load(folder / "prototype_means.npy", allow_pickle=False)
        with open(folder / "assignments.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(io.StringIO(handle.read())))
        files = [row["file"] for row in rows]
        members = [np.asarray(m, dtype=np.int64) for m in summary["members"]]
        closest = [np.asarray(c, dtype=np.int64) for c in summary["closest"]]
        model = None
        if (folder / "mixture.npz").is_file():
            with np.load(folder / "mixture.npz", allow_pickle=False) as arrays:
                model = _mixture_from({key: arrays[key] for key in arrays.files})
        return Prototypes(
            means=means, weights=np.asarray(summary["weights"], dtype=np.float64), members=members,
            closest=closest, closest_files=[[files[i] for i in c] for c in closest],
            assignments=np.array([int(row["prototype"]) for row in rows], dtype=np.int64),
            log_likelihood=np.array([float(row["log_likelihood"] or "nan") for row in rows]),
            percentiles=np.array([float(row["percentile"] or "nan") for row in rows]),
            files=files, settings=dict(summary["settings"]), model=model)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise InputError(f"The prototypes in '{folder}' cannot be read; write them again.",
                         details=f"{type(error).__name__}: {error}") from None


__all__ = ["FORMAT", "PROTOTYPE_FILES", "read_prototypes", "write_prototypes"]
