"""The parts every repair shares: edited model files, the fine-tuning loop, artefacts, results and the registry."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from xaidesk.core import CancelToken, Cancelled, InputError, MethodError, ModelError
from xaidesk.data.scenes import MARK_BOX
from xaidesk.models import load_model
from xaidesk.models.edited import (
    ConceptProjection, add_projection, load_edited, plain_state_dict, projections_of, read_edited_document,
    resize_to_state, save_edited_model,
)
from xaidesk.models.sources import recognise
from xaidesk.repair.artefact import Artefact, artefact_from_region, artefact_from_samples, box_mask, positive_share
from xaidesk.repair.data import generated_clever_hans_set, load_labelled_folder, split_held_out
from xaidesk.repair.methods import RepairRequest, get_repair, list_repairs
from xaidesk.repair.result import Comparison, RepairResult, Table, check_editable, working_copy, write_repair_outputs
from xaidesk.repair.training import TrainingSettings, cross_entropy_loss, finetune


@pytest.fixture(scope="module")
def demo():
    return load_model("demo:clever_hans")


def test_concept_projection_is_an_idempotent_affine_projection():
    torch.manual_seed(0)
    direction = torch.randn(24)
    projection = ConceptProjection(direction, reference=0.7)
    x = torch.randn(5, 6, 2, 2)
    once = projection(x)
    unit = direction / direction.norm()
    assert torch.allclose(projection(once), once, atol=1e-6)
    assert torch.allclose(once.flatten(1) @ unit, torch.full((5,), 0.7), atol=1e-5)
    orthogonal = x.flatten(1) - (x.flatten(1) @ unit)[:, None] * unit
    assert torch.allclose(once.flatten(1) - 0.7 * unit, orthogonal, atol=1e-5)
    with pytest.raises(ModelError, match="zero or not finite"):
        ConceptProjection(torch.zeros(3), 0.0)


def test_an_edited_model_file_round_trips_with_projection_and_provenance(demo, tmp_path):
    edited = working_copy(demo, "Clever Hans, corrected")
    add_projection(edited.module, "11", ConceptProjection(torch.randn(64 * 8 * 8, generator=torch.Generator().manual_seed(1)), 0.2))
    assert [name for name, _ in projections_of(edited.module)] == ["11"]
    assert "11.weight" not in plain_state_dict(edited.module) and "12.weight" in plain_state_dict(edited.module)
    path = save_edited_model(edited, tmp_path / "fixed.safetensors", base="demo:clever_hans",
                             edits=[{"kind": "p-clarc", "summary": "the tag projected out at layer 11"}],
                             provenance={"run": "somewhere"})
    document = read_edited_document(path)
    assert document["base"] == "demo:clever_hans" and document["provenance"]["run"] == "somewhere"
    reopened = load_model(f"file:{path}")
    x = torch.randn(3, 3, 64, 64)
    assert torch.allclose(reopened.module(x), edited.module(x), atol=1e-6)
    assert not torch.allclose(reopened.module(x), demo.module(x), atol=1e-3)  # the original is untouched and differs
    assert reopened.name == "Clever Hans, corrected" and "projected out" in reopened.notes[0]
    assert recognise(path).kind == "edited" and recognise(path).spec == f"file:{path}"


def test_pruned_shapes_are_rebuilt_from_the_saved_weights(demo, tmp_path):
    edited = working_copy(demo, "smaller")
    module = edited.module
    keep = torch.arange(0, 64, 2)
    conv, bn, nxt = module[12], module[13], module[17]
    module[12] = nn.Conv2d(64, 32, 3, padding=1, bias=False)
    module[12].weight.data = conv.weight.data[keep].clone()
    module[13] = nn.BatchNorm2d(32)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(module[13], name).data = getattr(bn, name).data[keep].clone()
    module[13].eval()
    module[17] = nn.Linear(32 * 4 * 4, 64)
    columns = (keep[:, None] * 16 + torch.arange(16)[None]).flatten()
    module[17].weight.data = nxt.weight.data[:, columns].clone()
    module[17].bias.data = nxt.bias.data.clone()
    path = save_edited_model(edited, tmp_path / "pruned.safetensors", base="demo:clever_hans",
                             edits=[{"kind": "prune", "summary": "half the last block's filters removed"}], provenance={})
    reopened = load_model(f"file:{path}")
    assert sum(p.numel() for p in reopened.module.parameters()) < sum(p.numel() for p in demo.module.parameters())
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(reopened.module(x), module.eval()(x), atol=1e-5)
    with pytest.raises(ModelError, match="cannot resize"):
        resize_to_state(nn.Sequential(nn.LayerNorm(4)), {"0.weight": torch.ones(3)})


def test_an_edited_file_whose_base_is_gone_is_refused_plainly(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    from safetensors.torch import save_file

    save_file({"1.weight": torch.zeros(2, 12), "1.bias": torch.zeros(2)}, str(tmp_path / "gone.safetensors"))
    from helpers import loaded

    model = loaded(net, (2, 2))
    path = save_edited_model(model, tmp_path / "edited.safetensors", base=f"file:{tmp_path / 'missing.pt'}",
                             edits=[], provenance={})
    with pytest.raises(ModelError, match="could not be opened.*Put the base model back"):
        load_edited(path)


def _write_folder(tmp_path, demo, n=12) -> None:
    from PIL import Image

    from xaidesk.data.scenes import make_clever_hans_set

    images, labels, _ = make_clever_hans_set(n, 3)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = tmp_path / "pictures" / demo.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")


def test_a_labelled_folder_reads_by_class_name_and_refuses_unknown_subfolders(demo, tmp_path):
    _write_folder(tmp_path, demo)
    images = load_labelled_folder(tmp_path / "pictures", demo)
    assert len(images) == 12 and set(images.labels.tolist()) == {0, 1}
    assert all(demo.class_names[int(label)] == path.parent.name for label, path in zip(images.labels, images.files))
    train, held_out = split_held_out(images, 0.25, seed=0)
    assert len(train) + len(held_out) == 12 and not set(train.files) & set(held_out.files)
    (tmp_path / "pictures" / "zebra").mkdir()
    with pytest.raises(InputError, match="'zebra'.*name no class"):
        load_labelled_folder(tmp_path / "pictures", demo)
    with pytest.raises(InputError, match="does not exist"):
        load_labelled_folder(tmp_path / "nowhere", demo)


def test_training_resumes_from_a_checkpoint_to_the_same_weights(demo, tmp_path):
    data = generated_clever_hans_set(demo, 48, 5)
    settings = TrainingSettings(epochs=2, batch_size=16, learning_rate=1e-3, checkpoint_every=1, seed=4)
    straight = copy.deepcopy(demo.module)
    finetune(straight, data, cross_entropy_loss, settings)
    interrupted = copy.deepcopy(demo.module)
    token, calls = CancelToken(), []

    def progress(fraction, message="", partial=None):
        calls.append(fraction)
        if len(calls) == 4:
            token.cancel()

    with pytest.raises(Cancelled):
        finetune(interrupted, data, cross_entropy_loss, settings, checkpoint_dir=tmp_path, token=token, progress=progress)
    resumed = copy.deepcopy(demo.module)
    history = finetune(resumed, data, cross_entropy_loss, settings, checkpoint_dir=tmp_path)
    assert history.resumed_from == (1, 1)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(InputError, match="another training run"):
        finetune(copy.deepcopy(demo.module), data, cross_entropy_loss, TrainingSettings(epochs=3), checkpoint_dir=tmp_path)
    other_images = generated_clever_hans_set(demo, 48, 6)
    with pytest.raises(InputError, match="another training run"):
        finetune(copy.deepcopy(demo.module), other_images, cross_entropy_loss, settings, checkpoint_dir=tmp_path)
    assert all(not p.requires_grad for p in resumed.parameters())


def test_dropout_runs_repeat_from_their_seed_and_resume_exactly(tmp_path):
    from xaidesk.repair.data import ImageSet

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
    data = ImageSet(torch.randn(40, 3, 2, 2), torch.arange(40) % 2, [])
    settings = TrainingSettings(epochs=2, batch_size=8, learning_rate=1e-2, checkpoint_every=2, seed=3)
    first, second = copy.deepcopy(net), copy.deepcopy(net)
    torch.manual_seed(123)
    finetune(first, data, cross_entropy_loss, settings)
    torch.manual_seed(999)  # the process-wide random state does not matter
    finetune(second, data, cross_entropy_loss, settings)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    token, calls = CancelToken(), []

    def progress(fraction, message="", partial=None):
        calls.append(fraction)
        if len(calls) == 7:
            token.cancel()

    with pytest.raises(Cancelled):
        finetune(copy.deepcopy(net), data, cross_entropy_loss, settings, checkpoint_dir=tmp_path, token=token,
                 progress=progress)
    resumed = copy.deepcopy(net)
    finetune(resumed, data, cross_entropy_loss, settings, checkpoint_dir=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), resumed.state_dict().values()))
    other_start = copy.deepcopy(net)
    with torch.no_grad():
        other_start[1].weight.add_(0.01)
    with pytest.raises(InputError, match="another training run"):
        finetune(other_start, data, cross_entropy_loss, settings, checkpoint_dir=tmp_path)


def test_after_step_runs_after_every_optimiser_step(demo):
    data = generated_clever_hans_set(demo, 16, 5)
    module = copy.deepcopy(demo.module)
    seen = []

    def keep_first_filter_at_zero(m):
        m[0].weight[0].zero_()
        seen.append(1)

    finetune(module, data, cross_entropy_loss, TrainingSettings(epochs=1, batch_size=4, learning_rate=1e-2),
             after_step=keep_first_filter_at_zero)
    assert len(seen) == 4 and float(module[0].weight[0].abs().sum()) == 0.0


def test_training_refuses_bad_settings_and_a_diverging_loss(demo):
    data = generated_clever_hans_set(demo, 8, 5)
    with pytest.raises(InputError, match="learning rate"):
        finetune(copy.deepcopy(demo.module), data, cross_entropy_loss, TrainingSettings(learning_rate=float("nan")))

    def nan_loss(module, inputs, labels, context):
        return module(inputs).sum() * float("nan"), {}

    with pytest.raises(MethodError, match="not a finite number"):
        finetune(copy.deepcopy(demo.module), data, nan_loss, TrainingSettings(epochs=1, batch_size=8))


def test_the_artefact_is_located_by_relevance_on_the_demo_tag(demo):
    tagged = generated_clever_hans_set(demo, 40, 7, marked="all").of_class(0)
    clean = generated_clever_hans_set(demo, 40, 7, marked="none").of_class(0)
    artefact = artefact_from_samples(demo, tagged.inputs, clean.inputs, 0)
    truth = box_mask((64, 64), MARK_BOX)
    overlap = (artefact.mask * truth).sum() / np.maximum(artefact.mask, truth).sum()
    assert overlap > 0.5  # intersection over union with the true tag box
    pasted = artefact.paste(clean.inputs[:2])
    assert torch.equal(pasted[:, :, truth == 0][:, :, artefact.mask[truth == 0] == 0],
                       clean.inputs[:2][:, :, truth == 0][:, :, artefact.mask[truth == 0] == 0])


def test_region_artefacts_paste_their_pixels_and_shares_add_up():
    source = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 4, 4)
    artefact = artefact_from_region(source, (1, 1, 2, 2))
    pasted = artefact.paste(torch.zeros(3, 2, 4, 4))
    assert torch.equal(pasted[:, :, 1:3, 1:3], source[None, :, 1:3, 1:3].expand(3, -1, -1, -1))
    assert float(pasted.sum()) == pytest.approx(3 * float(source[:, 1:3, 1:3].sum()))
    maps = torch.tensor([[[1.0, -1.0], [2.0, 1.0]]])
    assert positive_share(maps, np.array([[1, 1], [0, 0]])) == pytest.approx([0.25])
    with pytest.raises(InputError, match="empty"):
        Artefact(np.zeros((4, 4)))
    with pytest.raises(InputError, match="outside"):
        box_mask((4, 4), (10, 10, 2, 2))


def test_the_writer_writes_the_model_report_and_tables_as_a_set(demo, tmp_path):
    result = RepairResult(
        model=working_copy(demo, "copy"), method="prune", base_spec="demo:clever_hans", settings={"share": 0.3},
        edits=[{"kind": "prune", "summary": "nothing removed"}],
        comparisons=[Comparison("accuracy", "held-out accuracy", 0.9, float("nan"))],
        tables=[Table("curve.csv", ["share", "accuracy"], [[0.1, 0.5]])],
        images={"picture.png": np.zeros((4, 4, 3), np.uint8)},
    )
    out = write_repair_outputs(result, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "curve.csv", "model.safetensors",
                                                     "picture.png", "report.json"]
    assert (out / "comparison.csv").read_text().splitlines()[1] == "accuracy,held-out accuracy,0.9,"
    assert json.loads((out / "report.json").read_text())["comparisons"][0]["after"] is None
    assert load_model(f"file:{out / 'model.safetensors'}").notes[0].startswith("Edited from demo:clever_hans")


def test_models_that_cannot_be_edited_are_refused(demo):
    from dataclasses import replace

    with pytest.raises(ModelError, match="image models"):
        check_editable(replace(demo, modality="audio"))
    with pytest.raises(ModelError, match="TorchScript or ONNX"):
        check_editable(replace(demo, runtime="onnxruntime"))


def test_the_registry_describes_every_repair_and_checks_requests(demo):
    names = [m.name for m in list_repairs()]
    assert names == ["p-clarc", "a-clarc", "rrr", "sun", "prune"]
    assert all(m.title and m.help for m in list_repairs())
    with pytest.raises(MethodError, match="no repair called"):
        get_repair("magic")
    with pytest.raises(InputError, match="needs a labelled folder to train on"):
        get_repair("sun").run(RepairRequest(demo))
    with pytest.raises(InputError, match="carry the artefact"):
        get_repair("p-clarc").run(RepairRequest(demo, target=0))
    with pytest.raises(MethodError, match="no setting"):
        get_repair("prune").resolve_params({"colour": 1})


def test_a_file_saved_over_its_own_base_is_refused_plainly(demo, tmp_path):
    first = save_edited_model(working_copy(demo, "one"), tmp_path / "model.safetensors", base="demo:clever_hans",
                              edits=[], provenance={})
    loop = save_edited_model(working_copy(demo, "two"), tmp_path / "loop.safetensors", base=f"file:{first}",
                             edits=[], provenance={})
    save_edited_model(working_copy(demo, "three"), first, base=f"file:{loop}", edits=[], provenance={})
    with pytest.raises(ModelError, match="names itself"):
        load_model(f"file:{loop}")


def test_an_edited_file_on_a_pickled_base_asks_to_trust_that_base(tmp_path):
    from helpers import loaded

    from xaidesk.models.files import UntrustedModelError

    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    torch.save(net, tmp_path / "whole.pt")
    (tmp_path / "whole.pt.json").write_text(json.dumps({"preprocessing": {"size": [2, 2], "mean": [0, 0, 0],
                                                                          "std": [1, 1, 1]}}))
    base = load_model(f"file:{tmp_path / 'whole.pt'}", trust=True)
    path = save_edited_model(loaded(net, (2, 2)), tmp_path / "edited.safetensors", base=f"file:{tmp_path / 'whole.pt'}",
                             edits=[], provenance={})
    with pytest.raises(UntrustedModelError) as refused:
        load_model(f"file:{path}")
    assert refused.value.path == tmp_path / "whole.pt"
    assert load_model(f"file:{path}", trust=True).num_classes == base.num_classes


def test_batch_norms_without_learned_scale_are_resized_by_their_statistics():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8, affine=False))
    state = {"0.weight": torch.zeros(4, 3, 3, 3), "0.bias": torch.zeros(4), "1.running_mean": torch.zeros(4),
             "1.running_var": torch.ones(4), "1.num_batches_tracked": torch.tensor(0)}
    assert resize_to_state(net, state) == ["0", "1"]
    net.load_state_dict(state)
    assert net(torch.zeros(1, 3, 5, 5)).shape[1] == 4


def test_a_folder_that_holds_a_corrected_model_is_not_written_over(demo, tmp_path):
    from xaidesk.repair.result import check_repair_output

    result = RepairResult(model=working_copy(demo, "copy"), method="prune", base_spec="demo:clever_hans",
                          settings={}, edits=[])
    write_repair_outputs(result, tmp_path / "out")
    before = (tmp_path / "out" / "model.safetensors").read_bytes()
    with pytest.raises(InputError, match="already holds a corrected model"):
        check_repair_output(tmp_path / "out")
    with pytest.raises(InputError, match="already holds a corrected model"):
        write_repair_outputs(result, tmp_path / "out")
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == before
    assert check_repair_output(tmp_path / "new") == tmp_path / "new"


def test_the_description_is_read_from_the_header_alone(demo, tmp_path):
    from safetensors.torch import save_file

    from xaidesk.models.edited_document import read_edited_document as header_document

    path = save_edited_model(working_copy(demo, "one"), tmp_path / "edited.safetensors", base="demo:clever_hans",
                             edits=[{"kind": "prune", "summary": "s"}], provenance={})
    assert header_document(path)["class_names"] == ["horse", "other"]
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    (tmp_path / "short.bin").write_bytes(b"\x01")
    assert header_document(tmp_path / "plain.safetensors") is None and header_document(tmp_path / "short.bin") is None
    assert header_document(tmp_path / "missing.safetensors") is None
