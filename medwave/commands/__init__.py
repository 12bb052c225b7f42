"""Subcommands of the ``medwave`` CLI, one module each, discovered by :mod:`medwave.cli`.

Each module defines ``register(subparsers)`` which adds its parser and sets ``func`` to a function
that takes the parsed ``argparse.Namespace`` and calls the package API. No logic lives here that the
API does not have. User errors are raised as :class:`medwave.utils.errors.UserError` (or ValueError /
FileNotFoundError wrapped into it) so that they print without a traceback.
"""
