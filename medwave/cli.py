"""The ``medwave`` command: a thin layer over the package API.

Each subcommand lives in its own module under :mod:`medwave.commands` and exposes
``register(subparsers)``; this file only discovers them, parses and maps errors to exit codes.

Exit codes: 0 success, 1 some items of a batch failed, 2 bad usage or bad input (a clear message,
no traceback; ``MEDWAVE_DEBUG=1`` shows it), 3 unexpected internal error (traceback shown), 130 interrupted,
141 stdout closed by its reader (``medwave info x | head -1``: no message, no traceback).
Every command accepts ``--quiet``/``-q`` and ``--no-progress`` (and ``MEDWAVE_NO_PROGRESS=1``).
"""

from __future__ import annotations

import argparse
import os
import importlib
import pkgutil
import sys
from typing import Optional, Sequence

# Before torch (and its OpenMP runtime) is loaded: threads that wait for work sleep instead of spinning. On a machine
# that runs anything else, spinning threads burn the cores the other thread of a parallel op needs, and medwave's
# many small ops then wait a scheduler time slice each (a registration took 4x the CPU and 1.4x the wall time of
# one thread at load 10 on 2 cores). A user's own OMP_WAIT_POLICY is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from medwave import __version__  # noqa: E402
from medwave.utils.errors import OptionError, UserError
from medwave.utils.progress import progress_disabled_by_env

__all__ = ["main", "build_parser", "UserError", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "EXIT_INTERNAL"]

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: stdout closed by its reader (``| head``): 128 + SIGPIPE, what a shell reports for a program killed by it.
EXIT_PIPE = 141


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
    for cmd in sub.choices.values():  # one memory limit and one progress switch for every command
        cmd.add_argument("--max-memory", metavar="SIZE", default=None,
                         help="refuse inputs whose header says they need more memory than SIZE (e.g. 16G; default: "
                              "MEDWAVE_MAX_MEMORY, else half of the available RAM)")
        add_progress_flags(cmd)
    return parser


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    """The one progress switch of every command: ``--quiet`` (``-q``) and ``--no-progress``, both ``args.progress``.

    ``MEDWAVE_NO_PROGRESS=1`` in the environment does the same (see :func:`main`).
    """
    taken = set(parser._option_string_actions)
    flags = [f for f in ("--quiet", "-q", "--no-progress") if f not in taken]
    if flags:
        parser.add_argument(*flags, dest="progress", action="store_false", default=True,
                            help="no progress bars (same as MEDWAVE_NO_PROGRESS=1)")


def _broken_pipe() -> int:
    """stdout's reader went away (``medwave info x | head -1``): stop quietly, as ``cat`` does.

    Python would report the failed flush of stdout at exit; pointing stdout at devnull prevents that.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (pytest's capture): nothing to redirect
        pass
    return EXIT_PIPE


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``medwave`` command and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # `medwave register --help | head -3`
        return _broken_pipe()
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    if progress_disabled_by_env():
        args.progress = False
    try:
        from medwave.io.guard import set_memory_limit

        try:
            set_memory_limit(getattr(args, "max_memory", None))
        except ValueError as exc:
            raise UserError(f"--max-memory: {exc}") from None
        code = args.func(args)
        if code is None:
            code = EXIT_OK
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at interpreter exit
        return int(code)
    except BrokenPipeError:
        return _broken_pipe()
    except OptionError as exc:  # a bad option found by the API: named as the command's --flag
        if os.environ.get("MEDWAVE_DEBUG"):
            raise
        print(f"medwave {args.command}: error: {exc.render(cli=True)}", file=sys.stderr)
        return EXIT_USAGE
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
