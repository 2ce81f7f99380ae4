"""A picker of where the model runs: the CPU, or a CUDA GPU when PyTorch finds one."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QWidget

CPU_ONLY_TIP = "Where the model runs. This computer has no CUDA GPU that PyTorch can use, so it runs on the CPU."
GPU_TIP = "Where the model runs. A CUDA GPU is usually many times faster for large models and many inputs."


class DevicePicker(QComboBox):
    """``"cpu"`` or ``"cuda"``; disabled, with a tooltip saying why, while the CPU is the only choice."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_devices(["cpu"])

    def set_devices(self, devices) -> None:
        """Offer ``devices`` (names as :func:`xaidesk.runs.available_devices` gives them), keeping the choice."""
        current = self.device()
        self.clear()
        for device in devices or ["cpu"]:
            self.addItem("CUDA GPU" if device == "cuda" else "CPU", device)
        index = self.findData(current)
        self.setCurrentIndex(max(index, 0))
        self.setEnabled(self.count() > 1)
        self.setToolTip(GPU_TIP if self.count() > 1 else CPU_ONLY_TIP)

    def device(self) -> str:
        """The chosen device's name."""
        return self.currentData() or "cpu"
