"""Qt-free faithfulness metrics for explanations (pixel flipping and more)."""
