"""Qt-free faithfulness metrics for explanations."""

from .pixel_flipping import FlippingCurve, patch_scores, pixel_flipping_curve

__all__ = ["FlippingCurve", "patch_scores", "pixel_flipping_curve"]
