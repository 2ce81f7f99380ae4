"""How the Audio tab opens models: the demo models, VGGish with a weights file, a model file (asking
for its spectrogram settings when no description file is beside it) and the quick classifier.

:class:`AudioModelsMixin` is part of :class:`~xaidesk.gui.tabs.audio_tab.AudioTab`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from .. import audio_jobs
from ..audio_jobs import default_frontend, frontend_dict
from ..runner import JobFailure
from ..widgets import error_dialog, frontend_dialog
from ..explain_records import first_sentence

VGGISH_ENTRY = "__vggish__"
MODEL_FILE_ENTRY = "__audio_file__"


class AudioModelsMixin:
    """Choosing, loading and describing the Audio tab's model."""

    def ensure_model(self) -> None:
        """Load the first audio demo model if none is loaded or loading (e.g. when the tab is shown)."""
        if self.model is None and self._jobs["model"] is None and self.demo_models():
            remembered = str(self.settings.value("last_audio_model", "") or "") if self.settings is not None else ""
            known = {m["spec"] for m in self.demo_models()}
            self.load_model(remembered if remembered in known else self.demo_models()[0]["spec"])

    def _choose_builtin_model(self) -> None:
        self.choose_vggish_weights()

    def choose_vggish_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open VGGish weights (xaidesk, torchvggish or TensorFlow names)", self._last_folder(),
            "VGGish weights (*.pt *.pth *.pth.tar *.safetensors *.npz);;All files (*)")
        if path:
            self._remember_folder(path)
            self.load_model(f"vggish:{path}")

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an audio model file", self._last_folder(),
            "Audio models (*.pt *.pth *.ts *.pth.tar *.xdprobe);;All files (*)")
        if not path:
            return
        self._remember_folder(path)
        from xaidesk.models.audio import is_audio_sidecar

        frontend = None
        if not is_audio_sidecar(path):
            # No description file beside the model: ask how it turns sound into a spectrogram.
            values = frontend_dialog.ask_frontend(self, frontend_dict(default_frontend()), Path(path).name)
            if values is None:
                self.status_message.emit("Model not loaded: it needs its spectrogram settings.")
                return
            frontend = values
        self.load_model(f"file:{path}", frontend=frontend)

    def open_probe_dialog(self):
        """Open the quick classifier for sounds (:mod:`xaidesk.gui.audio_probe_dialog`); its classifier loads here."""
        from ..audio_probe_dialog import AudioProbeDialog

        dialog = AudioProbeDialog(self.catalog, self, start_folder=self._last_folder(), current_model=self.model)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.use_model_requested.connect(self.load_model)
        dialog.show()
        return dialog

    def load_model(self, spec: str, trust: bool = False, frontend: dict | None = None) -> int:
        """Load a model in the background; the current one stays until it is ready.

        ``frontend`` (an ``AudioFrontEnd.to_dict()``) gives the spectrogram settings of a
        ``file:`` model that has no description file beside it.
        """
        self.status_message.emit(f"Loading model {spec} …")
        self._pending_model_spec = spec
        self._pending_frontend = frontend
        self._waiting_sample = None

        def job(token, progress):
            return audio_jobs.load_audio_model(spec, trust=trust, frontend=frontend)

        self._submit("model", job)
        self._update_enabled()
        return self._jobs["model"]

    def _load_trusted_model(self, spec: str) -> None:
        self.load_model(spec, trust=True, frontend=getattr(self, "_pending_frontend", None))

    def _model_job_ready(self, result) -> None:
        model, defaults = result
        if getattr(model, "frontend", None) is None:
            # A user file without its front-end beside it: ask for it (saved with the results).
            values = frontend_dialog.ask_frontend(self, defaults or {}, getattr(model, "name", ""))
            if values is None:
                self._select_model_in_combo()
                self.status_message.emit("Model not loaded: it needs its spectrogram settings.")
                return
            try:
                from xaidesk.models.audio import AudioFrontEnd

                frontend = AudioFrontEnd.from_dict(values)
            except Exception as error:  # noqa: BLE001 - a plain message for bad settings
                self._select_model_in_combo()
                error_dialog.show_error(self, "These spectrogram settings do not work", JobFailure.from_exception(error))
                return
            model = dataclasses.replace(model, frontend=frontend, modality="audio")
        self.set_model(model)

    def set_model(self, model) -> None:
        """Use an already loaded audio model (a ``LoadedModel`` with a front-end)."""
        if self.is_running():
            self.cancel_explanation()
        self.model = model
        if self.catalog is not None:
            self._fill_model_combo()
        description = self._model_description(model)
        self.model_notes.setToolTip(description)
        frontend = model.frontend
        lines = [first_sentence(description)] if description else []
        fe = frontend_dict(frontend) or {}
        if fe:
            lines.append(
                f"{model.num_classes} classes · {fe.get('sample_rate', '?')} Hz, {fe.get('n_mels', '?')} mel bands, "
                f"{getattr(frontend, 'window_seconds', 0) or 0:.2f} s windows."
            )
        lines += list(getattr(model, "notes", []) or [])
        self.model_notes.setText("\n".join(line.strip() for line in lines if line))
        self._fill_classes(model)
        self._reset_layer_choices()
        self._on_method_changed()
        self._list_layers()
        self.status_message.emit(self._model_ready_text(model, "loaded"))
        self.model_loaded.emit(model.spec)
        if self._open_waiting_sample():
            pass
        elif self.clip is not None:
            self._analyse_clip()
        elif self.path is None and self._jobs["open"] is None and self._jobs["segment"] is None:
            # Like the Images tab's demo, a built-in model opens with one of its own sample sounds.
            samples = next((m.get("samples", []) for m in self.demo_models() if m["spec"] == model.spec), [])
            if samples:
                self.open_audio(samples[0])
        self._update_enabled()
