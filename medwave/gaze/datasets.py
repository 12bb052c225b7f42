"""Turn a local REFLACX or EGD-CXR copy into a medwave gaze datalist (one item per sentence).

Neither data set can be downloaded by medwave (PhysioNet credentialed access). With local copies
and the MIMIC-CXR-JPG/DICOM images they refer to, these functions write one gaze CSV per report
sentence and a datalist JSON (``training``/``validation``/``test``) that ``medwave train-gaze
--datalist`` reads. ``data_manifests/reflacx.json`` and ``data_manifests/egd_cxr.json`` describe the
expected layouts, columns and split rules.

Example (with the data present):
    >>> from medwave.gaze.datasets import build_reflacx_datalist  # doctest: +SKIP
    >>> build_reflacx_datalist("reflacx-1.0.0", "mimic-cxr/2.0.0", "gaze_reflacx")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any, Optional, Union

from medwave.gaze.io import read_egd_cxr, read_reflacx, write_gaze_csv
from medwave.utils import atomic_write_bytes, check_output_path, progress_bar

__all__ = ["build_reflacx_datalist", "build_egd_cxr_datalist"]

PathLike = Union[str, os.PathLike]
_SPLITS = {"train": "training", "training": "training", "validate": "validation", "validation": "validation",
           "val": "validation", "test": "test"}


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; is the data set root right?")
    import io

    from medwave.io.guard import read_text

    with io.StringIO(read_text(path, what="CSV file"), newline="") as fh:
        return list(csv.DictReader(fh))


def _write(outdir: Path, items: dict[str, list[dict[str, Any]]], name: str, overwrite: bool) -> Path:
    dl = outdir / "datalist.json"
    payload = {"name": name, "root": ".", **items}
    atomic_write_bytes(dl, json.dumps(payload, indent=1).encode("utf-8"), overwrite=overwrite)
    return dl


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s)


def build_reflacx_datalist(
    reflacx_root: PathLike,
    image_root: PathLike,
    outdir: PathLike,
    *,
    lead: float = 0.0,
    min_fixations: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a per-sentence gaze datalist from REFLACX.

    Args:
        reflacx_root: Folder with ``main_data/metadata_phase_{1,2,3}.csv`` and ``main_data/<id>/``.
        image_root: Root the metadata's ``image`` paths are relative to (MIMIC-CXR; the part of the
            path up to ``files/`` is dropped when needed).
        outdir: Output folder (``gaze/<id>_<n>.csv``, ``datalist.json``).
        lead: Seconds of fixations before each sentence to include.
        min_fixations: Sentences with fewer fixations are skipped.
        overwrite: Replace an existing datalist.
        progress: Progress bar.

    Returns:
        The datalist path. The split comes from the metadata's ``split`` column when present
        (else every case is ``training``); cases with ``eye_tracking_data_discarded`` true are skipped.
    """
    root, out = Path(reflacx_root).expanduser(), Path(outdir).expanduser()
    check_output_path(out / "datalist.json", overwrite=overwrite)
    metas = sorted((root / "main_data").glob("metadata_phase_*.csv"))
    if not metas:
        raise FileNotFoundError(f"{root / 'main_data'}: no metadata_phase_*.csv; give the REFLACX root folder.")
    rows = [r for m in metas for r in _read_rows(m)]
    items: dict[str, list[dict[str, Any]]] = {"training": [], "validation": [], "test": []}
    for r in progress_bar(rows, total=len(rows), desc="REFLACX", enabled=progress):
        if str(r.get("eye_tracking_data_discarded", "False")).strip().lower() == "true":
            continue
        case = root / "main_data" / r["id"]
        if not (case / "fixations.csv").exists():
            continue
        img = _image_path(Path(image_root).expanduser(), r.get("image", ""))
        split = _SPLITS.get(str(r.get("split", "train")).strip().lower(), "training")
        for n, s in enumerate(read_reflacx(case, lead=lead)):
            if len(s.points) < min_fixations:
                continue
            g = f"gaze/{_slug(r['id'])}_{n:02d}.csv"
            write_gaze_csv(out / g, s.points, durations=s.durations, times=s.times, sentence=s.sentence, overwrite=True)
            items[split].append({"image": str(img), "sentence": s.sentence, "gaze": g, "case": r["id"]})
    return _write(out, items, "REFLACX per-sentence gaze (medwave)", overwrite)


def _image_path(image_root: Path, rel: str) -> Path:
    rel = rel.strip()
    if not rel:
        return image_root
    p = Path(rel)
    if p.is_absolute():
        return p
    parts = p.parts
    if "files" in parts:  # keep from the last "files/" (MIMIC-CXR's pXX/pXXXXXXXX/sXXXXXXXX tree)
        parts = parts[len(parts) - 1 - parts[::-1].index("files"):]
    return image_root.joinpath(*parts)


def build_egd_cxr_datalist(
    egd_root: PathLike,
    image_root: PathLike,
    outdir: PathLike,
    *,
    split_csv: Optional[PathLike] = None,
    lead: float = 0.0,
    min_fixations: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a per-sentence gaze datalist from EGD-CXR.

    Args:
        egd_root: Folder with ``master_sheet.csv``, ``fixations.csv`` and ``audio_segmentation_transcripts/``.
        image_root: MIMIC-CXR root the master sheet's ``path`` column is relative to.
        outdir: Output folder.
        split_csv: Optional MIMIC-CXR ``mimic-cxr-2.0.0-split.csv`` (``dicom_id``, ``split``); without
            it every image is ``training``.
        lead, min_fixations, overwrite, progress: As in :func:`build_reflacx_datalist`.
    """
    root, out = Path(egd_root).expanduser(), Path(outdir).expanduser()
    check_output_path(out / "datalist.json", overwrite=overwrite)
    master = {r["dicom_id"]: r for r in _read_rows(root / "master_sheet.csv")}
    splits: dict[str, str] = {}
    if split_csv is not None:
        splits = {r["dicom_id"]: _SPLITS.get(r["split"].strip().lower(), "training") for r in _read_rows(Path(split_csv))}
    per_image = read_egd_cxr(root / "fixations.csv", root / "audio_segmentation_transcripts", lead=lead)
    items: dict[str, list[dict[str, Any]]] = {"training": [], "validation": [], "test": []}
    for did, sents in progress_bar(per_image.items(), total=len(per_image), desc="EGD-CXR", enabled=progress):
        img = _image_path(Path(image_root).expanduser(), master.get(did, {}).get("path", ""))
        split = splits.get(did, "training")
        for n, s in enumerate(sents):
            if len(s.points) < min_fixations:
                continue
            g = f"gaze/{_slug(did)}_{n:02d}.csv"
            write_gaze_csv(out / g, s.points, durations=s.durations, times=s.times, sentence=s.sentence, overwrite=True)
            items[split].append({"image": str(img), "sentence": s.sentence, "gaze": g, "dicom_id": did})
    return _write(out, items, "EGD-CXR per-sentence gaze (medwave)", overwrite)
