"""The error types for bad user input, shared by every layer (printed without a traceback, exit code 2)."""

from __future__ import annotations

from typing import Any

__all__ = ["UserError", "OptionError"]


class UserError(Exception):
    """An error caused by the user's input: the CLI prints it without a traceback and exits with code 2."""


class OptionError(ValueError):
    """A bad option value, named the way the caller spelled the option.

    The API raises it with the Python keyword (``str(exc)``: ``"levels=40 is too deep ..."``); the command line
    prints :meth:`render` with ``cli=True`` (``"--levels 40 is too deep ..."``), so one check serves both and
    the CLI needs no copy of it.

    Example:
        >>> e = OptionError("wavelet_mode", "mirror", " is not a boundary mode; use symmetric, periodization, ...")
        >>> str(e)
        "wavelet_mode='mirror' is not a boundary mode; use symmetric, periodization, ..."
        >>> e.render(cli=True)
        '--wavelet-mode mirror is not a boundary mode; use symmetric, periodization, ...'
    """

    def __init__(self, option: str, value: Any, problem: str, *, cli_value: Any = None) -> None:
        self.option, self.value, self.problem = option, value, problem
        # how the value is typed on the command line (a tuple (32, 128, 128) as "32 128 128")
        self.cli_value = cli_value if cli_value is not None else (
            " ".join(str(v) for v in value) if isinstance(value, (tuple, list)) else value)
        super().__init__(self.render())

    def render(self, *, cli: bool = False) -> str:
        """The message with the option as a keyword (``levels=40``) or, with ``cli``, as a flag (``--levels 40``)."""
        if cli:
            return f"--{self.option.replace('_', '-')} {self.cli_value}{self.problem}"
        return f"{self.option}={self.value!r}{self.problem}"
