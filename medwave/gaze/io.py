"""Reading radiographs and gaze data: DICOM/PNG/JPEG, REFLACX, EGD-CXR, and medwave's gaze CSV.

Coordinates are image pixels, ``x`` to the right (column) and ``y`` down (row), origin at the
centre of the top-left pixel, as REFLACX and EGD-CXR (``X_ORIGINAL``/``Y_ORIGINAL``) give them.

Formats (column names as the public data sets ship them):

* REFLACX ``main_data/<id>/fixations.csv``: ``timestamp_start_fixation, timestamp_end_fixation,
  x_position, y_position, pupil_area_normalized, ...`` (seconds, image pixels);
  ``timestamps_transcription.csv``: ``word, timestamp_start_word, timestamp_end_word``.
  A sentence ends at a word that is or ends with ``.``.
* EGD-CXR ``fixations.csv``: one row per fixation, ``DICOM_ID, CNT, Time (in secs), ..., FPOGX,
  FPOGY, FPOGS, FPOGD, ..., X_ORIGINAL, Y_ORIGINAL``; ``audio_segmentation_transcripts/<dicom_id>/
  transcript.json``: ``{"full_text": ..., "time_stamped_text": [{"phrase", "begin_time",
  "end_time"}, ...]}``. Phrases are joined into sentences at ``.``; ``Time (in secs)`` is the
  fixation start, ``FPOGD`` its duration.
* REFLACX ``main_data/<id>/anomaly_location_ellipses.csv``: ``xmin, ymin, xmax, ymax, certainty``
  (1-5) and one True/False column per label (``Lung nodule or mass``, ``Pleural abnormality``, ...);
  each row is the ellipse inscribed in that box (:func:`read_reflacx_ellipses`).
* EGD-CXR ``bounding_boxes.csv``: ``dicom_id, bbox_name, x1, y1, x2, y2`` (anatomy boxes; the
  corner columns are also accepted as ``xmin, ymin, xmax, ymax``) (:func:`read_egd_cxr_boxes`).

Each sentence becomes a :class:`SentenceGaze`: the text, its time span and the fixations whose
interval overlaps the span (optionally widened by ``lead`` seconds before the sentence starts,
since radiologists look before they speak).

Example:
    >>> import numpy as np, tempfile, os
    >>> from medwave.gaze.io import write_gaze_csv, read_gaze_csv
    >>> p = os.path.join(tempfile.mkdtemp(), "g.csv")
    >>> _ = write_gaze_csv(p, np.array([[10.0, 20.0], [30.5, 40.0]]))
    >>> read_gaze_csv(p)["points"].tolist()
    [[10.0, 20.0], [30.5, 40.0]]
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from medwave.io.guard import read_text
from medwave.utils.atomic import atomic_path, check_output_path

__all__ = [
    "SentenceGaze",
    "load_radiograph",
    "radiograph_from_image",
    "save_png",
    "read_gaze_csv",
    "write_gaze_csv",
    "read_reflacx",
    "read_egd_cxr",
    "resample_points",
    "load_gaze_datalist",
    "read_reflacx_ellipses",
    "read_egd_cxr_boxes",
    "box_mask",
]

PathLike = Union[str, os.PathLike]

_DICOM_EXT = (".dcm", ".dicom", "")
_RASTER_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class SentenceGaze:
    """One report sentence and the fixations made while it was spoken.

    Attributes:
        sentence: The sentence text.
        start: Start time (s) of the sentence.
        end: End time (s).
        points: ``(N, 2)`` fixation positions ``(x, y)`` in image pixels, in temporal order.
        durations: ``(N,)`` fixation durations (s).
        times: ``(N,)`` fixation start times (s).
        image_id: The image (DICOM id) the sentence is about, when known.
    """

    sentence: str
    start: float
    end: float
    points: np.ndarray
    durations: np.ndarray
    times: np.ndarray
    image_id: Optional[str] = None
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------- images
def load_radiograph(path: PathLike, *, return_meta: bool = False) -> Union[np.ndarray, tuple[np.ndarray, dict]]:
    """Read a radiograph as a 2D float32 array ``(rows, columns)`` in ``[0, 1]`` (bright = dense, as displayed).

    The file is read by :func:`medwave.io.load_image` (one reader per format: DICOM through SimpleITK, TIFF
    through tifffile, PNG/JPEG through scikit-image) and turned into a display image by
    :func:`radiograph_from_image`: DICOM modality LUT (RescaleSlope/Intercept) applied, ``MONOCHROME1``
    (low value = bright) inverted, min-max scaled; PNG/JPEG/TIFF RGB(A) converted to grey, integer data
    divided by the dtype's maximum.

    Args:
        path: ``.dcm`` (or a file without extension), ``.png``, ``.jpg``/``.jpeg``, ``.tif``.
        return_meta: Also return a dict (``photometric``, ``pixel_spacing``, ``source``).

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a readable 2D radiograph (the message names the file).

    Example:
        >>> from pydicom.data import get_testdata_file
        >>> img = load_radiograph(get_testdata_file("RG1_UNCR.dcm"))
        >>> img.shape, img.dtype, float(img.min()), float(img.max())
        ((1955, 1841), dtype('float32'), 0.0, 1.0)
    """
    from medwave.io.guard import check_input_file, guard_image
    from medwave.io.image import read_image_file

    p = Path(path).expanduser()
    if not p.exists() and not p.is_symlink():
        raise FileNotFoundError(f"{p}: no such file. Check the path to the radiograph.")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a folder; give a radiograph file (.dcm, .png, .jpg).")
    if not p.is_file():  # a pipe, device or symlink loop is named as such, before its extension is judged
        check_input_file(p, what="radiograph")
    # a regular readable file; its pixel count from the header, checked against the memory limit before decoding
    # (reading, grey conversion, float copies and the heatmap cost about 64 bytes per pixel)
    ext = p.suffix.lower()
    if ext not in _RASTER_EXT and ext not in _DICOM_EXT:
        raise ValueError(f"{p}: unsupported extension {ext!r}; give a .dcm, .png, .jpg or .tif radiograph.")
    guard_image(p, what="radiograph", allow_complex=False, purpose="gaze", bytes_per_voxel=64.0)
    img = read_image_file(p, check_affine=False, allow_complex=False, purpose="gaze")
    out, meta = radiograph_from_image(img, name=str(p))
    meta["source"] = str(p)
    return (out, meta) if return_meta else out


def _dicom_photometric_on_disk(path: Optional[Path]) -> Optional[str]:
    """PhotometricInterpretation from a DICOM file's header (pixel data not read), None if not DICOM."""
    if path is None or not Path(path).is_file():
        return None
    try:
        import pydicom

        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        return str(ds.get("PhotometricInterpretation", "")).upper() or None
    except Exception:
        return None


def _needs_monochrome1_inversion(meta: dict, path: Optional[Path]) -> bool:
    """Whether the pixels are still raw MONOCHROME1 (low = bright) and must be inverted for display.

    medwave's DICOM reader and MONAI's ITKReader read through GDCM, which already inverts MONOCHROME1
    (medwave marks it ``monochrome1_inverted``; ITK metadata keys look like ``0028|0004``). MONAI's
    PydicomReader leaves the raw values and drops the tag (or keeps it as ``00280004``): then the tag is
    read from the header of ``meta['filename_or_obj']``.
    """
    if meta.get("monochrome1_inverted") or "0028|0004" in meta:
        return False
    pm = meta.get("photometric")
    tag = meta.get("00280004")
    if pm is None and tag is not None:
        val = tag.get("Value", [""]) if isinstance(tag, dict) else tag
        pm = val[0] if isinstance(val, (list, tuple)) and val else val
    if pm is None and meta.get("source_form") in ("metatensor", "nibabel") or pm is None and meta.get("format") == "dicom":
        pm = _dicom_photometric_on_disk(path)
    return str(pm or "").strip().upper() == "MONOCHROME1"


def radiograph_from_image(image: Any, *, name: str = "image") -> tuple[np.ndarray, dict]:
    """A :class:`medwave.io.Image` (x first: ``(columns, rows[, C])``) as a display radiograph.

    Returns:
        ``(array, meta)``: float32 ``(rows, columns)`` in ``[0, 1]``, bright = dense; ``meta`` has
        ``photometric`` and ``pixel_spacing`` (row, column spacing in mm, or None).

    Raises:
        ValueError: Not a 2D grey or RGB(A) image, or NaN/Inf pixels.
    """
    arr = np.asarray(image.array)
    meta_in = dict(image.meta)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    raster = meta_in.get("format") in ("png", "jpeg", "bmp", "gif", "tiff")
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and (meta_in.get("vector") or raster):
        maxv = np.iinfo(arr.dtype).max if np.issubdtype(arr.dtype, np.integer) else 1.0
        grey = (arr[..., :3].astype(np.float64) / maxv) @ np.array([0.2125, 0.7154, 0.0721])
        out = np.clip(grey, 0.0, 1.0)
    elif arr.ndim == 2:
        if np.iscomplexobj(arr):
            raise ValueError(f"{name}: complex pixels; a radiograph has real intensities.")
        if raster and np.issubdtype(arr.dtype, np.integer):
            out = arr.astype(np.float64) / np.iinfo(arr.dtype).max
        elif arr.dtype == np.bool_:
            out = arr.astype(np.float64)
        else:
            a = arr.astype(np.float64)
            if _needs_monochrome1_inversion(meta_in, image.path):
                a = a.max() + a.min() - a
            out = _minmax(a)
    else:
        raise ValueError(f"{name}: shape {tuple(np.shape(image.array))} is not a 2D grey or RGB radiograph.")
    meta = {"photometric": meta_in.get("photometric", "MONOCHROME2"),
            "pixel_spacing": meta_in.get("pixel_spacing")}
    return np.ascontiguousarray(out.T).astype(np.float32), meta


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(a)), float(np.max(a))
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError("image contains NaN or infinite values")
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def save_png(path: PathLike, image: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write a 2D float image in ``[0, 1]`` (or an RGB ``(H, W, 3)`` one) as an 8-bit PNG, atomically."""
    from skimage import io as skio

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    p = check_output_path(path, overwrite=overwrite)
    with atomic_path(p) as tmp:
        skio.imsave(str(tmp), arr, check_contrast=False)
    return p


# ---------------------------------------------------------------------------------- gaze CSV
_GAZE_COLUMNS = ("index", "x", "y", "duration", "time", "sentence")


def write_gaze_csv(
    path: PathLike,
    points: np.ndarray,
    *,
    durations: Optional[Sequence[float]] = None,
    times: Optional[Sequence[float]] = None,
    sentence: Optional[str] = None,
    overwrite: bool = True,
) -> Path:
    """Write gaze points to a plain CSV (``index,x,y,duration,time,sentence``), atomically.

    Plain CSV: one header row, one row per point, no comment lines, so ``csv``, pandas and spreadsheets read
    it as it is. The sentence is a column (the same text on every row; empty when there is none).

    Args:
        path: Output ``.csv``.
        points: ``(N, 2)`` array of ``(x, y)`` image pixel positions, in order.
        durations: Optional fixation durations (s); empty cells when missing.
        times: Optional start times (s).
        sentence: Optional report sentence (whitespace collapsed), stored in the ``sentence`` column.
        overwrite: Replace an existing file.

    Returns:
        The written path.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be (N, 2) (x, y) pixel positions, got shape {pts.shape}")
    n = len(pts)
    for name, v in (("durations", durations), ("times", times)):
        if v is not None and len(v) != n:
            raise ValueError(f"{name} has {len(v)} values but there are {n} points")
    p = check_output_path(path, overwrite=overwrite)
    with atomic_path(p) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            text = "" if sentence is None else " ".join(str(sentence).split())
            w = csv.writer(fh)
            w.writerow(_GAZE_COLUMNS)
            for i in range(n):
                w.writerow(
                    [
                        i,
                        repr(float(pts[i, 0])),
                        repr(float(pts[i, 1])),
                        "" if durations is None else repr(float(durations[i])),
                        "" if times is None else repr(float(times[i])),
                        text,
                    ]
                )
    return p


def read_gaze_csv(path: PathLike) -> dict[str, Any]:
    """Read gaze points written by :func:`write_gaze_csv` (or any CSV with ``x`` and ``y`` columns).

    REFLACX (``x_position``/``y_position``) and EGD-CXR (``X_ORIGINAL``/``Y_ORIGINAL``) column names
    are also accepted. The sentence comes from the ``sentence`` column, or from a leading
    ``# sentence: ...`` line (files written by medwave before it wrote plain CSV).

    Returns:
        ``{"points": (N, 2) float array, "durations": (N,) or None, "times": (N,) or None,
        "sentence": str or None}``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: No usable x/y columns or a non-numeric value (the message gives the line).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such gaze CSV. Check the path.")
    sentence = None
    lines = read_text(p, what="gaze CSV").splitlines()
    body = []
    for line in lines:
        if line.startswith("#"):
            if line.lower().startswith("# sentence:"):
                sentence = line.split(":", 1)[1].strip()
            continue
        if line.strip():
            body.append(line)
    if not body:
        raise ValueError(f"{p}: empty gaze CSV; expected a header with x,y columns.")
    reader = csv.DictReader(body)
    fields = reader.fieldnames or []
    xcol = _first(fields, ("x", "x_position", "X_ORIGINAL"))
    ycol = _first(fields, ("y", "y_position", "Y_ORIGINAL"))
    if xcol is None or ycol is None:
        raise ValueError(f"{p}: no x/y columns (found {fields}); write it with medwave.gaze.io.write_gaze_csv.")
    dcol = _first(fields, ("duration", "FPOGD"))
    scol = _first(fields, ("sentence",))
    tcol = _first(fields, ("time", "timestamp_start_fixation", "Time (in secs)"))
    pts, durs, times = [], [], []
    for lineno, row in enumerate(reader, start=2):
        if scol and sentence is None and row.get(scol):
            sentence = row[scol]
        try:
            pts.append((float(row[xcol]), float(row[ycol])))
            durs.append(float(row[dcol]) if dcol and row.get(dcol) not in (None, "") else np.nan)
            times.append(float(row[tcol]) if tcol and row.get(tcol) not in (None, "") else np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{p}, data line {lineno}: non-numeric value ({exc}).") from exc
    points = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(durs, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    return {
        "points": points,
        "durations": None if np.all(np.isnan(d)) else d,
        "times": None if np.all(np.isnan(t)) else t,
        "sentence": sentence,
    }


def _first(fields: Sequence[str], names: Sequence[str]) -> Optional[str]:
    low = {f.strip().lower(): f for f in fields}
    for n in names:
        if n.lower() in low:
            return low[n.lower()]
    return None


def _read_csv_columns(path: Path, required: Sequence[str]) -> dict[str, list[str]]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file. Check the data set folder.")
    with io.StringIO(read_text(path, what="CSV file"), newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = [c for c in required if c not in fields]
        if missing:
            raise ValueError(f"{path}: missing columns {missing} (found {fields}). Is this the right file?")
        cols: dict[str, list[str]] = {f: [] for f in fields}
        for row in reader:
            for k, v in row.items():
                if k is not None:
                    cols[k.strip()].append(v)
    return cols


def _floats(path: Path, name: str, values: list[str]) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: column {name!r} has a non-numeric value ({exc}).") from exc


def _assign(
    sentences: list[tuple[str, float, float]],
    fx: np.ndarray,
    fy: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    lead: float,
    image_id: Optional[str],
) -> list[SentenceGaze]:
    out = []
    for text, s, e in sentences:
        sel = (t1 >= s - lead) & (t0 <= e)
        idx = np.nonzero(sel)[0]
        idx = idx[np.argsort(t0[idx], kind="stable")]
        out.append(
            SentenceGaze(
                sentence=text,
                start=float(s),
                end=float(e),
                points=np.stack([fx[idx], fy[idx]], axis=1) if len(idx) else np.zeros((0, 2)),
                durations=(t1[idx] - t0[idx]),
                times=t0[idx],
                image_id=image_id,
            )
        )
    return out


def _split_sentences(tokens: Sequence[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Join time-stamped words/phrases into sentences ending at ``.``."""
    sentences: list[tuple[str, float, float]] = []
    words: list[str] = []
    start = end = None
    for text, s, e in tokens:
        text = text.strip()
        if not text:
            continue
        if start is None:
            start = s
        end = e
        if text == "." and words:
            words[-1] = words[-1] + "."
        else:
            words.append(text)
        if text.endswith("."):
            sentences.append((" ".join(words), float(start), float(end)))
            words, start = [], None
    if words and start is not None and end is not None:
        sentences.append((" ".join(words), float(start), float(end)))
    return sentences


def read_reflacx(case_dir: PathLike, *, lead: float = 0.0) -> list[SentenceGaze]:
    """Read one REFLACX case folder (``main_data/<id>/``) into per-sentence fixations.

    Args:
        case_dir: Folder holding ``fixations.csv`` and ``timestamps_transcription.csv``.
        lead: Also count fixations up to this many seconds before each sentence starts.

    Returns:
        One :class:`SentenceGaze` per dictated sentence, in order; ``image_id`` is the folder name.

    Raises:
        FileNotFoundError: A file is missing.
        ValueError: A file lacks the REFLACX columns.
    """
    d = Path(case_dir).expanduser()
    fpath, tpath = d / "fixations.csv", d / "timestamps_transcription.csv"
    fc = _read_csv_columns(fpath, ("timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position"))
    tc = _read_csv_columns(tpath, ("word", "timestamp_start_word", "timestamp_end_word"))
    t0 = _floats(fpath, "timestamp_start_fixation", fc["timestamp_start_fixation"])
    t1 = _floats(fpath, "timestamp_end_fixation", fc["timestamp_end_fixation"])
    fx = _floats(fpath, "x_position", fc["x_position"])
    fy = _floats(fpath, "y_position", fc["y_position"])
    ws = _floats(tpath, "timestamp_start_word", tc["timestamp_start_word"])
    we = _floats(tpath, "timestamp_end_word", tc["timestamp_end_word"])
    tokens = list(zip(tc["word"], ws, we))
    return _assign(_split_sentences(tokens), fx, fy, t0, t1, lead, d.name)


def read_egd_cxr(
    fixations_csv: PathLike, transcripts_dir: PathLike, *, dicom_id: Optional[str] = None, lead: float = 0.0
) -> dict[str, list[SentenceGaze]]:
    """Read EGD-CXR fixations and transcripts into per-sentence fixations, per image.

    Args:
        fixations_csv: The data set's ``fixations.csv`` (all images, keyed by ``DICOM_ID``).
        transcripts_dir: ``audio_segmentation_transcripts/`` (holding ``<dicom_id>/transcript.json``).
        dicom_id: Read only this image.
        lead: Also count fixations up to this many seconds before each sentence starts.

    Returns:
        ``{dicom_id: [SentenceGaze, ...]}`` for the images that have a transcript.

    Raises:
        FileNotFoundError: A file is missing (or ``dicom_id`` has no transcript).
        ValueError: A file lacks the EGD-CXR columns/keys.
    """
    fpath = Path(fixations_csv).expanduser()
    tdir = Path(transcripts_dir).expanduser()
    req = ("DICOM_ID", "Time (in secs)", "FPOGD", "X_ORIGINAL", "Y_ORIGINAL")
    fc = _read_csv_columns(fpath, req)
    ids = np.asarray([s.strip() for s in fc["DICOM_ID"]])
    t0_all = _floats(fpath, "Time (in secs)", fc["Time (in secs)"])
    dur_all = _floats(fpath, "FPOGD", fc["FPOGD"])
    x_all = _floats(fpath, "X_ORIGINAL", fc["X_ORIGINAL"])
    y_all = _floats(fpath, "Y_ORIGINAL", fc["Y_ORIGINAL"])
    wanted = [dicom_id] if dicom_id is not None else list(dict.fromkeys(ids.tolist()))
    out: dict[str, list[SentenceGaze]] = {}
    for did in wanted:
        tj = tdir / did / "transcript.json"
        if not tj.exists():
            if dicom_id is not None:
                raise FileNotFoundError(f"{tj}: no transcript for DICOM_ID {did}. Check transcripts_dir.")
            continue
        try:
            payload = json.loads(read_text(tj, what="transcript"))
            phrases = payload["time_stamped_text"]
            tokens = [(str(ph["phrase"]), float(ph["begin_time"]), float(ph["end_time"])) for ph in phrases]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{tj}: not an EGD-CXR transcript (need time_stamped_text with phrase/begin_time/end_time): {exc}"
            ) from exc
        m = ids == did
        t0 = t0_all[m]
        out[did] = _assign(_split_sentences(tokens), x_all[m], y_all[m], t0, t0 + dur_all[m], lead, did)
    return out


def resample_points(points: np.ndarray, k: int) -> np.ndarray:
    """Resample an ordered scanpath to exactly ``k`` points (evenly spaced in fixation order).

    With ``N`` fixations, point ``j`` is fixation ``round(j * (N - 1) / (k - 1))``; fewer than ``k``
    fixations are repeated in order. This is how variable-length sentence scanpaths become GEM's
    ``K`` targets.

    Raises:
        ValueError: The scanpath is empty.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("cannot resample an empty scanpath (this sentence has no fixations)")
    if k == 1:
        return pts[:1].copy()
    idx = np.rint(np.linspace(0, len(pts) - 1, k)).astype(int)
    return pts[idx].copy()


def load_gaze_datalist(path: PathLike, *, key: str = "training") -> list[dict[str, Any]]:
    """Read a MONAI-style gaze datalist JSON and resolve its paths.

    Each item is ``{"image": path, "sentence": str, "gaze": path-to-gaze-CSV}``; relative paths are
    taken from the datalist's ``"root"`` entry if present, else from the JSON file's folder.

    Returns:
        The items of ``key`` with absolute ``image``/``gaze`` paths.

    Raises:
        FileNotFoundError: The datalist does not exist.
        ValueError: ``key`` is missing or an item lacks ``image``/``sentence``/``gaze``.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such datalist. Check the path.")
    try:
        data = json.loads(read_text(p, what="datalist"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc}).") from exc
    if key not in data:
        raise ValueError(f"{p}: no {key!r} list (keys: {sorted(data)}).")
    root = Path(data.get("root") or p.parent)
    if not root.is_absolute():
        root = (p.parent / root).resolve()
    items = []
    for i, it in enumerate(data[key]):
        missing = [k for k in ("image", "sentence", "gaze") if k not in it]
        if missing:
            raise ValueError(f"{p}: item {i} of {key!r} lacks {missing}; each item needs image, sentence, gaze.")
        item = dict(it)
        for k in ("image", "gaze"):
            q = Path(item[k])
            item[k] = str(q if q.is_absolute() else root / q)
        items.append(item)
    return items


_BOX_COLUMNS = (("xmin", "x1"), ("ymin", "y1"), ("xmax", "x2"), ("ymax", "y2"))


def _box_columns(path: Path, fields: Sequence[str]) -> list[str]:
    cols = []
    for names in _BOX_COLUMNS:
        c = _first(fields, names)
        if c is None:
            raise ValueError(f"{path}: missing a box column {' or '.join(names)} (found {list(fields)}).")
        cols.append(c)
    return cols


def read_reflacx_ellipses(path: PathLike, *, min_certainty: int = 1) -> list[dict[str, Any]]:
    """Read a REFLACX ``anomaly_location_ellipses.csv`` (a case folder or the file).

    Args:
        path: ``main_data/<id>/`` or its ``anomaly_location_ellipses.csv``.
        min_certainty: Keep ellipses whose ``certainty`` (1-5) is at least this.

    Returns:
        ``[{"box": (xmin, ymin, xmax, ymax), "certainty": int, "labels": [names of the True label
        columns]}]`` in image pixels; the ellipse is the one inscribed in the box.

    Raises:
        FileNotFoundError: No such file.
        ValueError: A box column is missing or not numeric.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "anomaly_location_ellipses.csv"
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file. Check the REFLACX case folder.")
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        cols = _box_columns(p, fields)
        ccol = _first(fields, ("certainty",))
        label_cols = [f for f in fields if f not in cols and f != ccol and f.lower() not in ("", "id")]
        out = []
        for lineno, row in enumerate(reader, start=2):
            row = {(k or "").strip(): v for k, v in row.items()}
            try:
                box = tuple(float(row[c]) for c in cols)
                cert = int(float(row[ccol])) if ccol and row.get(ccol) not in (None, "") else 5
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{p}, line {lineno}: non-numeric box or certainty ({exc}).") from exc
            if cert < min_certainty:
                continue
            labels = [c for c in label_cols if str(row.get(c, "")).strip().lower() in ("true", "1", "1.0")]
            out.append({"box": box, "certainty": cert, "labels": labels})
    return out


def read_egd_cxr_boxes(path: PathLike, *, dicom_id: Optional[str] = None) -> dict[str, list[dict[str, Any]]]:
    """Read EGD-CXR's ``bounding_boxes.csv``: ``{dicom_id: [{"name": bbox_name, "box": (x1, y1, x2, y2)}]}``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Missing ``dicom_id``/box columns or a non-numeric value.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file. Check the EGD-CXR folder.")
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        idcol = _first(fields, ("dicom_id",))
        if idcol is None:
            raise ValueError(f"{p}: no dicom_id column (found {fields}). Is this EGD-CXR's bounding_boxes.csv?")
        cols = _box_columns(p, fields)
        ncol = _first(fields, ("bbox_name", "name", "label"))
        out: dict[str, list[dict[str, Any]]] = {}
        for lineno, row in enumerate(reader, start=2):
            row = {(k or "").strip(): v for k, v in row.items()}
            did = str(row[idcol]).strip()
            if dicom_id is not None and did != dicom_id:
                continue
            try:
                box = tuple(float(row[c]) for c in cols)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{p}, line {lineno}: non-numeric box value ({exc}).") from exc
            out.setdefault(did, []).append({"name": str(row.get(ncol, "")).strip() if ncol else "", "box": box})
    return out


def box_mask(box: Sequence[float], shape: Sequence[int], *, ellipse: bool = False) -> np.ndarray:
    """Boolean ``(H, W)`` mask of a box ``(xmin, ymin, xmax, ymax)`` (pixel centres inside), or of the
    ellipse inscribed in it."""
    h, w = int(shape[0]), int(shape[1])
    x0, y0, x1, y1 = (float(v) for v in box)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    if not ellipse:
        return (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
    cx, cy, ax, ay = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1e-9), max((y1 - y0) / 2, 1e-9)
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
