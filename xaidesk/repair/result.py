"""What a repair returns, and the one writer of its output folder (used by the CLI and the GUI).

The folder holds, written as a set:

- ``model.safetensors``: the edited model (:mod:`xaidesk.models.edited`), opened as ``file:PATH``;
- ``report.json``: the method, its settings, the edits, the provenance and every figure;
- ``comparison.csv``: ``figure,label,before,after`` for each figure measured before and after;
- further CSV tables (a pruning curve, a training history) and PNG pictures the method made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..models.base import LoadedModel

MODEL_FILE = "model.safetensors"
REPORT_FILE = "report.json"
COMPARISON_FILE = "comparison.csv"


@dataclass
class Comparison:
    """One figure measured on the model before and after the repair.

    Attributes
    ----------
    name
        A short key (``accuracy_target``, ``artefact_relevance_share``).
    label
        The figure in plain words (``held-out accuracy on 'horse' images, as given``).
    before, after
        The values (NaN where a value could not be measured).
    better
        ``"higher"`` or ``"lower"``: which direction is the improvement (for colouring, never for judging).
    """

    name: str
    label: str
    before: float
    after: float
    better: str = "higher"

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "before": self.before, "after": self.after,
                "better": self.better}


@dataclass
class Table:
    """A CSV table a repair produced: its file name, header and rows."""

    name: str
    header: list[str]
    rows: list[list[Any]]

    def csv_bytes(self) -> bytes:
        from ..core.io import csv_field, csv_number

        def cell(value) -> str:
            if isinstance(value, (float, np.floating)):
                return csv_number(float(value))
            return csv_field(value)

        lines = [",".join(csv_field(h) for h in self.header)]
        lines += [",".join(cell(v) for v in row) for row in self.rows]
        return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass
class RepairResult:
    """An edited model with what was done, why, and how it compares with the original.

    Attributes
    ----------
    model
        The edited model (a new :class:`LoadedModel`; the original is untouched).
    method
        ``"p-clarc"``, ``"a-clarc"``, ``"prune"``, ``"rrr"`` or ``"sun"``.
    base_spec
        The spec of the model it was made from.
    settings
        The method's settings (plain JSON values).
    edits
        What was changed, as stored in the model file (see :mod:`xaidesk.models.edited`).
    provenance
        Where it came from: the run folder, the artefact, the training folder.
    comparisons
        Figures before and after.
    tables
        Further CSV tables.
    images
        Further pictures: file name -> RGB uint8 array.
    notes
        Plain remarks (what was approximated, what could not be measured).
    """

    model: LoadedModel
    method: str
    base_spec: str
    settings: dict
    edits: list[dict]
    provenance: dict = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def comparison(self, name: str) -> Comparison | None:
        return next((c for c in self.comparisons if c.name == name), None)

    def report(self) -> dict:
        """The contents of ``report.json``."""
        return {
            "method": self.method,
            "base": self.base_spec,
            "settings": self.settings,
            "edits": self.edits,
            "provenance": self.provenance,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "notes": self.notes,
            "tables": [t.name for t in self.tables],
            "images": sorted(self.images),
        }


def comparison_table(comparisons: list[Comparison]) -> Table:
    """``comparison.csv``."""
    return Table(COMPARISON_FILE, ["figure", "label", "before", "after"],
                 [[c.name, c.label, float(c.before), float(c.after)] for c in comparisons])


def check_repair_output(out: str | Path) -> Path:
    """Refuse an output folder that already holds a repair's model, before any work is done.

    Writing there would replace that model, and with it the base of any model made from it; old
    pictures and tables beside the new report would mislead. Returns ``out`` as a path.
    """
    from ..core import InputError

    out = Path(out)
    if (out / MODEL_FILE).exists() or (out / REPORT_FILE).exists():
        raise InputError(f"'{out}' already holds a corrected model ({MODEL_FILE}); choose a new output folder so "
                         "that it is kept.")
    return out


def write_repair_outputs(result: RepairResult, out: str | Path) -> Path:
    """Write the model file, ``report.json``, ``comparison.csv``, the tables and pictures into ``out``, as a set.

    ``out`` must not hold a repair's output already (see :func:`check_repair_output`).
    """
    from ..core.io import save_png_atomic, staged_folder, write_bytes_atomic, write_json_atomic
    from ..models.edited import save_edited_model

    out = check_repair_output(out)
    with staged_folder(out) as staging:
        save_edited_model(result.model, staging / MODEL_FILE, base=result.base_spec, edits=result.edits,
                          provenance={**result.provenance, "method": result.method, "settings": result.settings,
                                      "comparisons": [c.to_dict() for c in result.comparisons]})
        write_json_atomic(staging / REPORT_FILE, result.report())
        for table in [comparison_table(result.comparisons), *result.tables]:
            write_bytes_atomic(staging / table.name, table.csv_bytes())
        for name, image in result.images.items():
            save_png_atomic(staging / name, image)
    return out


def check_editable(model: LoadedModel) -> None:
    """Refuse a model xaidesk cannot change and save again, in plain words."""
    from ..core import ModelError

    if model.modality != "image":
        raise ModelError(f"{model.name} is a model for {model.modality}; correcting, pruning and fine-tuning work "
                         "on image models.")
    if model.is_torchscript or model.runtime != "torch" or model.gradient_refusal:
        raise ModelError(f"{model.name} is not a PyTorch network xaidesk can change (a TorchScript or ONNX model). "
                         "Open the model's PyTorch weights instead.")
    if model.spec.startswith("probe:") or model.embedding_only:
        raise ModelError(f"{model.name} is a quick classifier or an embedding model; correct or prune the model "
                         "it was built on instead.")


def working_copy(model: LoadedModel, title: str) -> LoadedModel:
    """A deep copy of ``model`` to edit, named ``title``; the original is never changed."""
    import copy
    from dataclasses import replace

    check_editable(model)
    return replace(model, module=copy.deepcopy(model.module), name=title, notes=list(model.notes))
