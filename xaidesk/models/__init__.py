"""Qt-free model handling (placeholder while the loader is written)."""
