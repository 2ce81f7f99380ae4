"""Qt-free faithfulness metrics for explanations (perturbation curves, see :mod:`.faithfulness`)."""

from .compare import compare_audio_methods, compare_image_methods, compare_methods, compare_table_methods
from .faithfulness import FILLS, ORDERS, FaithfulnessResult, FlipSettings, curve_aopc, curve_auc
from .pixel_flipping import image_faithfulness, patch_scores
from .spectrogram import audio_faithfulness
from .tables import TABLE_METHODS, table_faithfulness

__all__ = [
    "FILLS", "ORDERS", "TABLE_METHODS", "FaithfulnessResult", "FlipSettings", "audio_faithfulness",
    "compare_audio_methods", "compare_image_methods", "compare_methods", "compare_table_methods", "curve_aopc", "curve_auc",
    "image_faithfulness", "patch_scores", "table_faithfulness",
]
from .spray import RunHeatmaps, SprayResult, load_run_heatmaps, read_spray_results, write_spray_results  # noqa: E402,F401
