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

from .probe_dialog import ProbeDialog
from .probe_jobs import audio_backbone_job, audio_counts_text, clips, held_out_warning, offers_current_backbone

#: Combo data of the entries that open a VGGish weights file or an audio model file.
VGGISH_ENTRY = "__vggish_weights__"
MODEL_FILE_ENTRY = "__audio_model_file__"
VGGISH_FILTER = "VGGish weights (*.pt *.pth *.safetensors *.npz);;All files (*)"
MODEL_FILTER = "Audio models (*.pt *.pth *.ts);;All files (*)"


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
    AUDIO = True

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
        self.summary_table.setToolTip(clips(self.summary_table.toolTip()))
        self.save_button.setToolTip("Write the classifier to a probe file (open it later in the Audio tab as the "
                                    "model file:PATH).")
        self.explain_button.setText("Explain in Audio tab")
        self.explain_button.setToolTip("Load the classifier (backbone + chosen head) in the Audio tab.")
        if current_model is not None and offers_current_backbone(current_model):
            self.use_backbone(current_model)

    # ------------------------------------------------------------ backbones
    def _fill_backbones(self) -> None:
        self.model_combo.clear()
        for model in self._builtin_models():
            self.model_combo.addItem(model.get("title", model["spec"]), model["spec"])
        self.model_combo.insertSeparator(self.model_combo.count())
        self.model_combo.addItem("VGGish weights file…", VGGISH_ENTRY)
        self.model_combo.addItem("Audio model file…", MODEL_FILE_ENTRY)

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
        job = audio_backbone_job(spec, frontend=frontend, model=model)
        return self._start_backbone(spec, job, f"Loading {spec} …")

    def use_backbone(self, model) -> int:
        """Use the Audio tab's model as the backbone: loaded again from its spec (with its spectrogram
        settings), so that the fit never shares a network with explanations running in the tab."""
        frontend = model.frontend.to_dict() if str(model.spec).startswith("file:") else None
        return self.load_backbone(model.spec, frontend=frontend)

    # ------------------------------------------------------------ fitting
    def _result_texts(self, result) -> tuple[str, str | None]:
        """What the probe was trained and judged on (with each clip's windows), and the warning in clips."""
        warning = held_out_warning(result.held_out_counts, result.class_names)
        return audio_counts_text(result), clips(warning) if warning else None
