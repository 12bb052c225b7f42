"""The error type for bad user input, shared by every layer (printed without a traceback, exit code 2)."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An error caused by the user's input: the CLI prints it without a traceback and exits with code 2."""
