"""Errors that reach a person: one plain sentence plus optional details."""

from __future__ import annotations


class XaideskError(Exception):
    """An error whose message is written for the person using the tool.

    Parameters
    ----------
    message
        One or two plain sentences: what was wrong and what to do.
    details
        Optional technical details (shown behind "Show details" in the GUI).
    """

    def __init__(self, message: str, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InputError(XaideskError):
    """The input file or value cannot be used."""


class ModelError(XaideskError):
    """The model cannot be loaded or does not fit the input or method."""


class MethodError(XaideskError):
    """The explanation method cannot run with these settings on this model."""
