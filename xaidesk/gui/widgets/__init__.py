"""Reusable Qt widgets (forms, dialogs)."""
