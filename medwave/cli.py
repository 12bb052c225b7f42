"""The ``medwave`` command: a thin layer over the package API.

Each subcommand lives in its own module under :mod:`medwave.commands` and exposes
``register(subparsers)``; this file only discovers them, parses and maps errors to exit codes.

Exit codes: 0 success, 1 some items of a batch failed, 2 bad usage or bad input (a clear message,
no traceback; ``MEDWAVE_DEBUG=1`` shows it), 3 unexpected internal error (traceback shown), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import importlib
import pkgutil
import sys
from typing import Optional, Sequence

from medwave import __version__
from medwave.utils.errors import UserError

__all__ = ["main", "build_parser", "UserError", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "EXIT_INTERNAL"]

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand found in :mod:`medwave.commands`."""
    parser = argparse.ArgumentParser(
        prog="medwave",
        description="medwave: exact, fast, differentiable wavelets for medical and volumetric imaging.",
        epilog="Example: medwave demo -o demo_output   (see `medwave COMMAND --help`)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"medwave {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import medwave.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"medwave.commands.{info.name}")
        module.register(sub)
    for cmd in sub.choices.values():  # one memory limit for every command (and the workers it starts)
        cmd.add_argument("--max-memory", metavar="SIZE", default=None,
                         help="refuse inputs whose header says they need more memory than SIZE (e.g. 16G; default: "
                              "MEDWAVE_MAX_MEMORY, else half of the available RAM)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``medwave`` command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        from medwave.io.guard import set_memory_limit

        try:
            set_memory_limit(getattr(args, "max_memory", None))
        except ValueError as exc:
            raise UserError(f"--max-memory: {exc}") from None
        code = args.func(args)
        return EXIT_OK if code is None else int(code)
    except UserError as exc:
        print(f"medwave {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotADirectoryError as exc:
        # An output path under a regular file ("results.txt/out"): say which path and what to do.
        if os.environ.get("MEDWAVE_DEBUG"):
            raise
        if exc.filename:
            print(f"medwave {args.command}: error: cannot write {exc.filename}: a parent of this path is a file, not "
                  f"a folder; choose an output path inside a folder", file=sys.stderr)
        else:  # raised by medwave with its own message
            print(f"medwave {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError, FileExistsError) as exc:
        # Bad input surfaces from the API as these; MEDWAVE_DEBUG=1 shows the traceback.
        if os.environ.get("MEDWAVE_DEBUG"):
            raise
        print(f"medwave {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"medwave {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # a bug, not bad input: show the traceback and ask for a report
        if os.environ.get("MEDWAVE_DEBUG"):
            raise
        import traceback

        traceback.print_exc()
        print(f"medwave {args.command}: internal error (a bug in medwave, not in your input); please report it "
              f"with the traceback above.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
