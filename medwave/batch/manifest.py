"""Batch items from a MONAI decathlon-style datalist JSON or a glob.

Rules (documented in ``medwave batch --help``):

* A manifest is a JSON list of entries, or an object whose list-valued keys (``"training"``,
  ``"validation"``, ``"test"``, ...) are sections of entries; ``sections=`` picks some (default: all
  list sections, in file order). A ``"root"`` string moves the base folder (relative to the manifest).
* Relative paths are relative to the manifest's folder (or its ``"root"``).
* Entries are objects; for ``denoise``/``segment-neurons`` a bare string is an ``{"image": ...}``.
  ``register`` needs ``fixed`` and ``moving`` (optional ``fixed_seg``, ``moving_seg``);
  ``denoise``/``segment-neurons`` need ``image``; ``gaze`` needs ``image`` and ``report``
  (a sentence or a list of sentences).
* Item names (the output sub-folder) come from an optional ``"name"`` key, else from the file name
  without extension (``moving`` for register; ``<moving>_to_<fixed>`` when moving names repeat).
  Names must be unique. Missing input files are reported before any work starts.
"""

from __future__ import annotations

import glob as _glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from medwave.utils.paths import file_stem as stem

__all__ = ["BatchItem", "TASKS", "IMAGE_SUFFIXES", "load_manifest", "items_from_glob", "items_from_folder", "stem"]

PathLike = Union[str, os.PathLike]

#: task -> (required keys, optional path keys)
TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "register": (("fixed", "moving"), ("fixed_seg", "moving_seg")),
    "denoise": (("image",), ()),
    "segment-neurons": (("image",), ()),
    "gaze": (("image", "report"), ()),
}
_NON_PATH = {"report", "name"}


@dataclass
class BatchItem:
    """One unit of work.

    Attributes:
        name: Output sub-folder name (unique in a batch).
        inputs: Task inputs: absolute paths for file keys, text for ``report``.
        source: Where the item came from (``"datalist.json: training[3]"``), for error messages.
    """

    name: str
    inputs: dict[str, Any]
    source: str = ""
    extra: dict = field(default_factory=dict)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name).strip(".") or "item"


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown batch task {task!r}; choose one of {', '.join(TASKS)}.")


def _finish(task: str, items: list[BatchItem], where: str) -> list[BatchItem]:
    """Name clash resolution, uniqueness and file existence checks."""
    if task == "register":
        moving_stems = [stem(it.inputs["moving"]) for it in items if "name" not in it.extra]
        for it in items:
            if "name" in it.extra:
                continue
            s = stem(it.inputs["moving"])
            it.name = _safe(s if moving_stems.count(s) == 1 else f"{s}_to_{stem(it.inputs['fixed'])}")
    seen: dict[str, str] = {}
    for it in items:
        if it.name in seen:
            raise ValueError(f"{where}: two items are both named {it.name!r} ({seen[it.name]} and {it.source}); "
                             "their outputs would collide. Give the entries distinct \"name\" keys.")
        seen[it.name] = it.source
    missing = []
    for it in items:
        for key, val in it.inputs.items():
            if key in _NON_PATH or val is None:
                continue
            if not Path(val).exists():
                missing.append(f"{it.source}: {key} {val}")
    if missing:
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise FileNotFoundError(f"{where}: input files not found:\n  " + "\n  ".join(missing[:10]) + more
                                + "\nFix the paths (relative paths are relative to the manifest's folder).")
    if not items:
        raise ValueError(f"{where}: no items to process. Check the manifest sections / the glob pattern.")
    return items


def _make_item(task: str, entry: Any, base: Path, source: str, mpath: str) -> BatchItem:
    required, optional = TASKS[task]
    if isinstance(entry, str) and required == ("image",):
        entry = {"image": entry}
    if not isinstance(entry, dict):
        raise ValueError(f"{mpath}: {source} is a {type(entry).__name__}, expected an object such as "
                         f"{{{', '.join(repr(k) + ': ...' for k in required)}}}.")
    absent = [k for k in required if entry.get(k) in (None, "", [])]
    if absent:
        opt = f" (optional {', '.join(repr(k) for k in optional)})" if optional else ""
        raise ValueError(f"{mpath}: {source} has no {', '.join(repr(k) for k in absent)}; {task} items need "
                         f"{', '.join(repr(k) for k in required)}{opt}. Add the key(s) to that entry.")
    inputs: dict[str, Any] = {}
    for key in required + optional:
        val = entry.get(key)
        if val is None:
            continue
        if key == "report":
            if isinstance(val, str):
                val = [val]
            if not (isinstance(val, list) and all(isinstance(s, str) and s.strip() for s in val)):
                raise ValueError(f"{mpath}: {source} 'report' must be a sentence or a list of sentences.")
            inputs[key] = list(val)
            continue
        if not isinstance(val, str):
            raise ValueError(f"{mpath}: {source} {key!r} must be a path string, got {type(val).__name__}.")
        p = Path(val).expanduser()
        inputs[key] = str(p if p.is_absolute() else (base / p).resolve())
    if "fixed_seg" in inputs and "moving_seg" not in inputs:
        raise ValueError(f"{mpath}: {source} has 'fixed_seg' without 'moving_seg'; Dice needs both. Add 'moving_seg'.")
    extra = {}
    if entry.get("name"):
        extra["name"] = str(entry["name"])
    key = "moving" if task == "register" else "image"
    name = _safe(extra.get("name", stem(inputs[key])))
    return BatchItem(name=name, inputs=inputs, source=source, extra=extra)


def load_manifest(path: PathLike, task: str, *, sections: Optional[Sequence[str]] = None) -> list[BatchItem]:
    """Read a datalist JSON into batch items (rules in the module docstring).

    Args:
        path: The manifest file.
        task: ``register``, ``denoise``, ``segment-neurons`` or ``gaze``.
        sections: Top-level keys to use (default: every list-valued key).

    Returns:
        The items, in file order.

    Raises:
        FileNotFoundError: The manifest or an input it lists does not exist.
        ValueError: Invalid JSON, a missing key, a duplicate name, an unknown section.
    """
    _check_task(task)
    mp = Path(path).expanduser()
    if not mp.is_file():
        raise FileNotFoundError(f"manifest {mp}: no such file. Check the --manifest path.")
    try:
        from medwave.io.guard import read_text

        data = json.loads(read_text(mp, what="manifest"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"manifest {mp.name} is not valid JSON ({exc}); fix the file (a list of entries or "
                         "{\"training\": [...]}).") from None
    base = mp.resolve().parent
    groups: list[tuple[str, list]] = []
    if isinstance(data, list):
        if sections:
            raise ValueError(f"manifest {mp.name} is a plain list; it has no sections {list(sections)}. Drop --section.")
        groups = [("", data)]
    elif isinstance(data, dict):
        if isinstance(data.get("root"), str):
            base = (base / Path(data["root"]).expanduser()).resolve()
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if sections:
            unknown = [s for s in sections if s not in lists]
            if unknown:
                raise ValueError(f"manifest {mp.name} has no list section(s) {unknown}; it has {sorted(lists) or 'none'}.")
            groups = [(s, lists[s]) for s in sections]
        else:
            groups = list(lists.items())
        if not groups:
            raise ValueError(f"manifest {mp.name} has no list of entries; expected e.g. "
                             "{\"training\": [{\"image\": \"a.nii.gz\"}]} or a top-level list.")
    else:
        raise ValueError(f"manifest {mp.name} must hold a list or an object of lists, not {type(data).__name__}.")
    items = []
    for sec, entries in groups:
        for i, entry in enumerate(entries):
            src = f"{sec}[{i}]" if sec else f"entry [{i}]"
            items.append(_make_item(task, entry, base, src, mp.name))
    return _finish(task, items, f"manifest {mp.name}")


def items_from_glob(task: str, pattern: str, *, fixed: Optional[PathLike] = None,
                    report: Optional[Sequence[str]] = None, exclude: Optional[PathLike] = None) -> list[BatchItem]:
    """Items from a glob pattern (sorted matches; ``**`` recurses).

    Args:
        task: The batch task.
        pattern: e.g. ``"data/*.nii.gz"``.
        fixed: For ``register``: every match is a moving image registered to this fixed image (atlas-to-subject
            style: ``--fixed atlas.nii.gz``).
        report: For ``gaze``: the sentence(s) used with every matched radiograph.
        exclude: A folder whose files are never items: the batch's output folder, so that a pattern like
            ``data/**/*.nii.gz`` with outputs in ``data/out`` does not pick up the batch's own outputs on
            ``--resume`` (they would be processed again as new items).

    Raises:
        ValueError: Nothing matches (outside ``exclude``), or a required option is missing.
    """
    _check_task(task)
    matches = sorted(m for m in _glob.glob(os.path.expanduser(pattern), recursive=True) if Path(m).is_file()
                     or Path(m).suffix == ".zarr")
    if exclude is not None:
        ex = Path(exclude).expanduser().resolve()
        inside = [m for m in matches if Path(m).resolve().is_relative_to(ex)]
        matches = [m for m in matches if m not in inside]
        if inside and not matches:
            raise ValueError(f"--input-glob {pattern!r} matches only files inside the output folder {ex}; point the "
                             f"pattern at the input images.")
    if task == "register" and fixed is None:
        raise ValueError("register with --input-glob needs --fixed FIXED (each match is a moving image registered to it); "
                         "for arbitrary pairs use a --manifest.")
    if task == "gaze" and not report:
        raise ValueError("gaze with --input-glob needs --report SENTENCE (used for every image); or use a --manifest.")
    if not matches:
        raise ValueError(f"--input-glob {pattern!r} matches no file. Check the pattern (quote it so the shell does not expand it).")
    items = []
    for m in matches:
        p = str(Path(m).resolve())
        if task == "register":
            if fixed is not None and Path(p) == Path(fixed).resolve():
                continue
            inputs: dict[str, Any] = {"fixed": str(Path(fixed).expanduser().resolve()), "moving": p}
        else:
            inputs = {"image": p}
            if task == "gaze":
                inputs["report"] = list(report or [])
        items.append(BatchItem(name=_safe(stem(p)), inputs=inputs, source=m))
    return _finish(task, items, f"--input-glob {pattern!r}")


#: File endings ``items_from_folder`` takes as images (lower case; ``.zarr`` folders too).
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".tif", ".tiff", ".dcm", ".png", ".jpg", ".jpeg")


def items_from_folder(task: str, folder: PathLike, *, output: Optional[PathLike] = None,
                      fixed: Optional[PathLike] = None, report: Optional[Sequence[str]] = None) -> list[BatchItem]:
    """Items from the image files directly inside ``folder`` (nnU-Net style ``-i FOLDER``; sorted, not recursive).

    Each image file (``IMAGE_SUFFIXES``, or a ``.zarr`` folder) is one case, named after its file name
    without extension (``case_001.nii.gz`` -> ``case_001``); hidden files are skipped.

    Args:
        task: The batch task.
        folder: The input folder.
        output: The output folder; it must not be ``folder`` itself (outputs keep the case names and
            would replace the inputs).
        fixed: For ``register``: the fixed image every case is registered to (skipped if it lies in ``folder``).
        report: For ``gaze``: the sentence(s) used with every radiograph.

    Raises:
        ValueError: No image in the folder, the output folder is the input folder, a required option is missing.
        FileNotFoundError: ``folder`` does not exist.
    """
    _check_task(task)
    src = Path(folder).expanduser()
    if not src.is_dir():
        raise FileNotFoundError(f"-i {src}: no such folder. Give the folder holding the input images "
                                "(or use --input-glob / --manifest).")
    if output is not None and Path(output).expanduser().resolve() == src.resolve():
        raise ValueError(f"-o {output} is the input folder; outputs keep the case names and would replace the inputs. "
                         "Choose another output folder.")
    if task == "register" and fixed is None:
        raise ValueError("register with -i FOLDER needs --fixed FIXED (each image in the folder is registered to it); "
                         "for arbitrary pairs use a --manifest.")
    if task == "gaze" and not report:
        raise ValueError("gaze with -i FOLDER needs --report SENTENCE (used for every image); or use a --manifest.")
    files = sorted(p for p in src.iterdir() if not p.name.startswith(".")
                   and ((p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
                        or (p.is_dir() and p.suffix.lower() == ".zarr")))
    if fixed is not None:
        fx = Path(fixed).expanduser().resolve()
        files = [p for p in files if p.resolve() != fx]
    if not files:
        raise ValueError(f"-i {src}: no image files in this folder (looked for {', '.join(IMAGE_SUFFIXES)} and .zarr). "
                         "Point -i at the folder holding the images.")
    items = []
    for p in files:
        path = str(p.resolve())
        if task == "register":
            inputs: dict[str, Any] = {"fixed": str(Path(fixed).expanduser().resolve()), "moving": path}
        else:
            inputs = {"image": path}
            if task == "gaze":
                inputs["report"] = list(report or [])
        items.append(BatchItem(name=_safe(stem(p)), inputs=inputs, source=p.name))
    return _finish(task, items, f"-i {src}")
