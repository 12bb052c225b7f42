"""Atomic writes: write to a temporary file beside the target, then rename over it.

A killed process never leaves a half-written output under the final name, and inputs are never
overwritten unless the caller asks.

Example:
    >>> import tempfile, os
    >>> from medwave.utils import atomic_path
    >>> d = tempfile.mkdtemp()
    >>> with atomic_path(os.path.join(d, "out.txt")) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(os.path.join(d, "out.txt")).read()
    'done'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

__all__ = ["atomic_path", "atomic_write_bytes", "check_output_path", "probe_writable", "remove_stale_temporaries",
           "remove_dead_temporaries"]

PathLike = Union[str, os.PathLike]


def _suffix(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".tar.gz", ".ome.tif", ".ome.tiff"):
        if name.endswith(ext):
            return ext
    return path.suffix


def check_output_path(
    path: PathLike, *, overwrite: bool = False, inputs: Optional[Iterable[PathLike]] = None
) -> Path:
    """Validate an output path before any work is done.

    Args:
        path: Where the output will go.
        overwrite: Allow replacing an existing output.
        inputs: Input files that must never be overwritten.

    Returns:
        The resolved path.

    Raises:
        FileExistsError: The output exists and ``overwrite`` is False.
        ValueError: The output is one of the inputs.
        NotADirectoryError: A parent of the output is a regular file.
        PermissionError: The folder is not writable (tested by creating a temporary file in the
            nearest existing folder; nothing is left behind).
    """
    p = Path(path).expanduser().resolve()
    for inp in inputs or ():
        if inp is not None and Path(inp).expanduser().resolve() == p:
            raise ValueError(f"Output {p} is also an input; medwave never overwrites its inputs. Choose another path.")
    if p.exists() and not overwrite:
        raise FileExistsError(f"Output {p} already exists; pass overwrite=True (CLI: --overwrite) or choose another path.")
    parent = p.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(
            f"Cannot write {p}: {existing} is a file, not a folder. Choose an output path inside a folder."
        )
    probe_writable(existing, target=parent)
    return p


def probe_writable(folder: PathLike, *, target: Optional[PathLike] = None) -> None:
    """Check that ``folder`` accepts new files by creating (and removing) a temporary file in it.

    ``os.access`` is not enough: it says yes to root everywhere, and says nothing about read-only or
    virtual file systems (``/proc``), full disks or quotas.

    Args:
        folder: An existing folder.
        target: The folder the output will go to (named in the message; default ``folder``).

    Raises:
        PermissionError: The folder is not writable (the message names it and the fix).
    """
    where = Path(target) if target is not None else Path(folder)
    try:
        fd, name = tempfile.mkstemp(prefix=".medwave-write-test.", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        hint = "" if Path(folder) == where else f" (nearest existing folder: {folder})"
        raise PermissionError(
            f"Cannot write to {where}: the folder is not writable{hint}: {reason}. Choose another output folder."
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def _umask() -> int:
    """The process umask, read without changing it (Linux ``/proc/self/status``; elsewhere set and restored)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - not Linux
    os.umask(mask)
    return mask


def _temporary_pattern(target: Path) -> tuple[str, str]:
    """Prefix and suffix of the temporary names :func:`atomic_path` gives ``target``
    (``.<name>.<pid>-<random>.tmp<ext>``: the writer's process id lets a later run tell a dead writer's leftovers
    from a live one's)."""
    return f".{target.name}.", ".tmp" + _suffix(target)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or cannot tell: keep its files
    return True


def remove_dead_temporaries(path: PathLike) -> list[Path]:
    """Delete the temporaries that a killed earlier run left beside ``path``: those :func:`atomic_path` made in a
    process of this machine that no longer exists. A live writer's temporaries are never touched, so this is safe
    while other commands run; every :func:`atomic_path` calls it for its target. Returns what was removed."""
    target = Path(path)
    prefix, suffix = _temporary_pattern(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for e in entries:
        if not (e.name.startswith(prefix) and e.name.endswith(suffix)):
            continue
        middle = e.name[len(prefix):-len(suffix)]
        pid_text = middle.split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


def remove_stale_temporaries(path: PathLike) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_path` left beside ``path``; returns them.

    Only names of the exact form ``atomic_path`` creates for this target are touched. Call it from the one
    process that owns the folder (e.g. a resumed batch), never while another process may be writing ``path``.
    """
    target = Path(path)
    prefix, suffix = _temporary_pattern(target)
    removed = []
    if target.parent.is_dir():
        for p in target.parent.iterdir():
            if p.name.startswith(prefix) and p.name.endswith(suffix) and p.is_file():
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``path``.

    The temporary name keeps the target's extension (``.nii.gz`` etc.) so writers that dispatch on
    the extension behave. On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise FileExistsError(f"Output {target} already exists; pass overwrite=True or choose another path.")
    prefix, suffix = _temporary_pattern(target)
    remove_dead_temporaries(target)  # leftovers of a killed earlier run of the same command
    fd, tmp_name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; an output gets the mode any new file gets here (0666 minus the umask)
        if tmp.is_file() and not tmp.is_symlink():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)
