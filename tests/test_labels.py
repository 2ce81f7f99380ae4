"""Label files: class names for a model of any source, in the API and on the command line."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from xaidesk.cli import main
from xaidesk.core import ModelError
from xaidesk.models import list_builtin_models, load_model
from xaidesk.models.labels import read_label_file

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_txt_file_one_name_per_line_blank_lines_skipped(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("cat\n\n  dog \nbird\n", encoding="utf-8")
    assert read_label_file(path) == ["cat", "dog", "bird"]


@pytest.mark.parametrize("content", [
    ["cat", "dog", "bird"],
    {"0": "cat", "1": "dog", "2": "bird"},
    {"2": "bird", "0": "cat", "1": "dog"},  # order of the keys does not matter
    {"id2label": {"0": "cat", "1": "dog", "2": "bird"}, "label2id": {"cat": 0}},  # a Hugging Face config
    {"class_names": ["cat", "dog", "bird"]},
])
def test_json_forms(tmp_path, content):
    path = tmp_path / "names.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    assert read_label_file(path) == ["cat", "dog", "bird"]


@pytest.mark.parametrize("name, text, message", [
    ("gaps.json", json.dumps({"0": "cat", "2": "bird"}), "without gaps"),
    ("bad.json", "{not json", "not valid JSON"),
    ("words.json", json.dumps({"cat": "x"}), "mapping class numbers"),
    ("nested.json", json.dumps([["cat"], ["dog"]]), "list of class names"),
    ("empty.txt", "\n \n", "no class names"),
    ("names.csv", "cat,dog", "not a label file"),
])
def test_bad_label_files_are_plain_model_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match=message):
        read_label_file(path)


def test_missing_label_file(tmp_path):
    with pytest.raises(ModelError, match="label file"):
        read_label_file(tmp_path / "nowhere.txt")


def test_label_file_renames_a_demo_model_and_a_wrong_count_is_refused(tmp_path):
    path = tmp_path / "digits.txt"
    path.write_text("\n".join(DIGIT_NAMES), encoding="utf-8")
    model = load_model("demo:digits", labels=path)
    assert model.class_names == DIGIT_NAMES and model.label(3) == "three"
    assert model.label_file == str(path)
    three = tmp_path / "three.json"
    three.write_text(json.dumps(["a", "b", "c"]), encoding="utf-8")
    with pytest.raises(ModelError, match="lists 3 class names, but .* has 10 outputs"):
        load_model("demo:digits", labels=three)


def test_label_file_renames_a_torchvision_model(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "shuffle.pt"
    torch.save(torchvision.models.shufflenet_v2_x0_5(num_classes=3).state_dict(), weights)
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"0": "cat", "1": "dog", "2": "bird"}), encoding="utf-8")
    model = load_model(f"torchvision:shufflenet_v2_x0_5:{weights}", labels=names)
    assert model.class_names == ["cat", "dog", "bird"]
    assert model.notes[-1] == "Class names from names.json."
    assert not any("no class names were found" in note for note in model.notes)
    plain = load_model(f"torchvision:shufflenet_v2_x0_5:{weights}")
    assert plain.class_names[0] == "class 0" and any("no class names were found" in n for n in plain.notes)


def test_cli_explain_image_takes_labels(tmp_path, capsys):
    sample = next(m for m in list_builtin_models() if m["spec"] == "demo:digits")["samples"][0]
    names = tmp_path / "digits.txt"
    names.write_text("\n".join(DIGIT_NAMES), encoding="utf-8")
    out = tmp_path / "result"
    code = main(["explain", "image", str(sample), "--model", "demo:digits", "--method", "gradient.sensitivity",
                 "--labels", str(names), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels"] == str(names)
    digit = int(sample.stem.split("_")[-1])
    assert summary["predicted"]["label"] == DIGIT_NAMES[digit]
    wrong = tmp_path / "two.txt"
    wrong.write_text("a\nb\n", encoding="utf-8")
    code = main(["explain", "image", str(sample), "--model", "demo:digits", "--method", "gradient.sensitivity",
                 "--labels", str(wrong), "--out", str(tmp_path / "other")])
    error = capsys.readouterr().err
    assert code == 1 and "lists 2 class names" in error and "Traceback" not in error
    assert not (tmp_path / "other").exists()


def _model_with_notes(notes):
    from xaidesk.models.base import LoadedModel
    from xaidesk.models.preprocessing import IMAGENET

    return LoadedModel(spec="x", name="x", module=torch.nn.Identity(), preprocessing=IMAGENET,
                       class_names=["a", "b"], notes=list(notes))


def test_notes_are_dropped_by_kind_not_by_their_words(tmp_path):
    from xaidesk.models.base import CLASS_NAMES, PREPROCESSING, Note
    from xaidesk.models.labels import apply_label_file
    from xaidesk.models.preprocessing import Preprocessing

    about_names = Note("config.json names no classes; they are called 'class i'. A label file can name them.",
                       CLASS_NAMES)
    about_input = Note("Images are resized to 32x32, the size config.json names.", PREPROCESSING)
    other = "The class name table of the metadata and its preprocessing graph were both checked."  # no kind
    model = _model_with_notes([about_names, about_input, other])
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    apply_label_file(model, names)
    assert model.notes == [about_input, other, "Class names from names.txt."]
    by_hand = model.with_preprocessing(Preprocessing(size=(8, 8), mean=(0.5,) * 3, std=(0.5,) * 3))
    assert by_hand.notes == [other, "Class names from names.txt.", "Preprocessing set by hand."]
    assert model.notes[0] == about_input  # the original is not changed


def test_a_note_is_a_plain_string_everywhere():
    import copy
    import pickle

    from xaidesk.models.base import CLASS_NAMES, Note, note_kind

    note = Note("Class names from a.json.", CLASS_NAMES)
    assert isinstance(note, str) and note == "Class names from a.json." and note_kind(note) == CLASS_NAMES
    assert json.loads(json.dumps({"notes": [note]})) == {"notes": ["Class names from a.json."]}
    for copied in (pickle.loads(pickle.dumps(note)), copy.deepcopy(note)):
        assert copied == note and note_kind(copied) == CLASS_NAMES
    assert note_kind("plain") == ""
