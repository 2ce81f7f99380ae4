"""The Audio tab's "Train a quick classifier…": a two-class probe on sound clips, judged by ROC.

The image dialog (:class:`~xaidesk.gui.probe_dialog.ProbeDialog`) with audio in place of images:
the backbones are audio models (the built-in ``demo:sounds``, VGGish weights, an audio model file,
or the Audio tab's current model), the folder holds one subfolder of clips per class, the fit is
:func:`xaidesk.models.probe.audio.fit_audio_probe` (each clip's windows averaged), and the
classifier is saved as an audio probe file that the Audio tab opens as ``file:PATH``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from .probe_dialog import ProbeDialog, held_out_warning

#: Combo data of the entries that open a VGGish weights file or an audio model file.
VGGISH_ENTRY = "__vggish_weights__"
MODEL_FILE_ENTRY = "__audio_model_file__"
VGGISH_FILTER = "VGGish weights (*.pt *.pth *.safetensors *.npz);;All files (*)"
MODEL_FILTER = "Audio models (*.pt *.pth *.ts);;All files (*)"


def _clips(text: str) -> str:
    return text.replace("images", "clips").replace("image", "clip")


class AudioProbeDialog(ProbeDialog):
    """Fit a two-class classifier on an audio backbone's layer for a folder of clips, and show its ROC.

    Signals
    -------
    use_model_requested(spec)
        ``file:PATH`` of the saved classifier, to be loaded in the Audio tab.
    """

    TAB_NAME = "Audio"
    SPEC_PREFIX = "file"
    FILE_NOUN = "clips"
    MODALITY = "audio"

    def __init__(self, catalog=None, parent: QWidget | None = None, start_folder: str = "",
                 current_model=None) -> None:
        super().__init__(catalog, parent, start_folder)
        self.setWindowTitle("Train a quick classifier on sounds")
        self.folder_edit.setPlaceholderText("two subfolders of clips")
        self.folder_edit.setToolTip("A folder with exactly two subfolders, one per class, holding its sound clips.")
        self.intro_label.setText(
            "Trains a two-class classifier: choose a folder with two subfolders of sound clips, one per class. "
            "A backbone model's layer gives the features, a simple head separates the two classes, and the "
            "held-out clips show how well it does.")
        self.layer_combo.setToolTip(
            "The backbone layer whose output is the feature vector: averaged over mel bands and time in each "
            "window of the clip, then over the clip's windows.")
        self.held_out_spin.setToolTip("Share of each class's clips kept aside to draw the ROC curve and set the "
                                      "threshold.")
        self.summary_table.setToolTip(_clips(self.summary_table.toolTip()))
        self.save_button.setToolTip("Write the classifier to a probe file (open it later in the Audio tab as the "
                                    "model file:PATH).")
        self.explain_button.setText("Explain in Audio tab")
        self.explain_button.setToolTip("Load the classifier (backbone + chosen head) in the Audio tab.")
        if current_model is not None and self._offer_current(current_model):
            self.use_backbone(current_model)

    # ------------------------------------------------------------ backbones
    def _fill_backbones(self) -> None:
        self.model_combo.clear()
        for model in self._builtin_models():
            self.model_combo.addItem(model.get("title", model["spec"]), model["spec"])
        self.model_combo.insertSeparator(self.model_combo.count())
        self.model_combo.addItem("VGGish weights file…", VGGISH_ENTRY)
        self.model_combo.addItem("Audio model file…", MODEL_FILE_ENTRY)

    @staticmethod
    def _offer_current(model) -> bool:
        """Whether the Audio tab's model is offered as the backbone (VGGish weights or an audio model file that
        is not itself a probe; the built-in models are listed anyway)."""
        from xaidesk.models.probe.audio import is_audio_probe_file

        spec = str(getattr(model, "spec", ""))
        kind, _, rest = spec.partition(":")
        return getattr(model, "modality", "") == "audio" and getattr(model, "frontend", None) is not None \
            and kind in ("vggish", "file") and not is_audio_probe_file(rest)

    def _on_model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == VGGISH_ENTRY:
            path, _ = QFileDialog.getOpenFileName(self, "Open VGGish weights", self._start_folder, VGGISH_FILTER)
            if path:
                self.load_backbone(f"vggish:{path}")
            else:
                self._select_backbone_in_combo()
            return
        if data == MODEL_FILE_ENTRY:
            path, _ = QFileDialog.getOpenFileName(self, "Open an audio model file", self._start_folder, MODEL_FILTER)
            if not path:
                self._select_backbone_in_combo()
                return
            frontend = None
            from xaidesk.models.audio import is_audio_sidecar

            if not is_audio_sidecar(path):
                from .audio_jobs import default_frontend as _default_frontend, frontend_dict
                from .widgets import frontend_dialog

                frontend = frontend_dialog.ask_frontend(self, frontend_dict(_default_frontend()), Path(path).name)
                if frontend is None:
                    self._select_backbone_in_combo()
                    return
            self.load_backbone(f"file:{path}", frontend=frontend)
            return
        self.load_backbone(data)

    def load_backbone(self, spec: str, frontend: dict | None = None, model=None) -> int:
        """Load the audio backbone ``spec`` (or use the loaded ``model``) in the background and list its layers.

        ``frontend`` gives the spectrogram settings of a ``file:`` model without a description file.
        """
        self.backbone_spec = spec
        self.backbone = None
        self._select_backbone_in_combo()
        self.layer_combo.clear()
        self.layer_combo.addItem("Loading the model…")
        self.layer_combo.setEnabled(False)
        self.status_label.setText(f"Loading {spec} …")

        def job(token, progress):
            from xaidesk.models import load_model
            from xaidesk.models.audio import load_audio_file
            from xaidesk.models.probe.audio import check_audio_backbone
            from xaidesk.models.probe import default_probe_layer, list_probe_layers

            from .catalog import configure_torch_threads

            configure_torch_threads()
            loaded = model
            if loaded is None and frontend is not None and spec.startswith("file:"):
                loaded = load_audio_file(spec[len("file:"):], spec=spec, frontend=frontend)
            elif loaded is None:
                loaded = load_model(spec)
            check_audio_backbone(loaded)
            layers = list_probe_layers(loaded)
            return spec, loaded, layers, default_probe_layer(layers)

        self._jobs["model"] = self.runner.submit(job, "model")
        self._update_enabled()
        return self._jobs["model"]

    def use_backbone(self, model) -> int:
        """Use the Audio tab's model as the backbone: loaded again from its spec (with its spectrogram
        settings), so that the fit never shares a network with explanations running in the tab."""
        frontend = model.frontend.to_dict() if str(model.spec).startswith("file:") else None
        return self.load_backbone(model.spec, frontend=frontend)

    # ------------------------------------------------------------ folder
    @staticmethod
    def _scan(path):
        """The labelled folder of clips at ``path`` (runs on the worker)."""
        from xaidesk.models.probe.audio import scan_audio_folder

        return scan_audio_folder(path)

    # ------------------------------------------------------------ fitting
    def fit(self) -> int | None:
        """Read every clip's features and fit both heads in the background."""
        if not self.can_fit():
            return None
        folder, model, layer = self.folder, self.backbone, self.layer()
        held_out, seed = float(self.held_out_spin.value()), int(self.seed_spin.value())

        def job(token, progress):
            from xaidesk.models.probe.audio import fit_audio_probe

            return fit_audio_probe(folder, model, layer, held_out=held_out, seed=seed, token=token,
                                   progress=progress)

        self.progress_bar.setValue(0)
        self.status_label.setText("Reading features …")
        self._jobs["fit"] = self.runner.submit(job, "fit")
        self._update_enabled()
        return self._jobs["fit"]

    def _show_result(self, result) -> None:
        super()._show_result(result)
        first, second = result.class_names
        windows = [w for w in getattr(result, "windows_per_clip", []) if w]
        spread = ""
        if windows:
            low, high = min(windows), max(windows)
            spread = f" Each clip is the mean of its {low} window{'s' if high > 1 else ''}" if low == high else \
                f" Each clip is the mean of its windows ({low} to {high})"
            spread += " of the layer's output."
        self.counts_label.setText(
            f"Layer {result.layer} of {result.backbone_name} ({result.feature_dim} features).{spread} Trained on "
            f"{result.train_counts[0]} '{first}' + {result.train_counts[1]} '{second}' clips, judged on "
            f"{result.held_out_counts[0]} + {result.held_out_counts[1]} held-out clips. A clip is called "
            f"'{second}' when its score reaches the threshold.")
        warning = held_out_warning(result.held_out_counts, result.class_names)
        self.warning_label.setText(_clips(warning or ""))

    # ------------------------------------------------------------ saving and explaining
    def _write(self, result, path, head) -> Path:
        from xaidesk.models.probe.audio import save_audio_probe

        return save_audio_probe(result, path, head)
