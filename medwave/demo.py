"""``make demo`` / ``medwave demo``: every pipeline on the data that ships with the packages.

One function runs the parts in turn, each into its own sub-folder, and keeps going when one fails
(the failure is reported with its reason in ``summary.json`` and in the return value):

| part | what it runs | data |
| --- | --- | --- |
| ``wavelets`` | 3D DWT/IDWT against PyWavelets, denoising against scikit-image | MNI152 T1 (nilearn) |
| ``registration`` | ``medwave.register`` (wavelet instance optimisation) with Dice and Jacobian | MNI152 warped by a known diffeomorphism |
| ``neurons`` | ``medwave.segment_neurons`` (shipped 3D-WaveUNet), tracing to SWC, metrics | synthetic neuron stack |
| ``gaze`` | ``medwave.predict_gaze`` (shipped GEM) for three report sentences | real radiograph (pydicom-data) |

Example:
    >>> from medwave.demo import run_demos
    >>> report = run_demos("demo_output", parts=["wavelets"], progress=False)  # doctest: +SKIP
    >>> report["wavelets"]["status"]  # doctest: +SKIP
    'ok'
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

__all__ = ["DEMO_PARTS", "run_demos"]

DEMO_PARTS: tuple[str, ...] = ("wavelets", "registration", "neurons", "gaze")


def _runner(part: str) -> Callable[..., dict]:
    if part == "wavelets":
        from medwave.transforms.demo import run_demo
    elif part == "registration":
        from medwave.registration.demo import run_demo
    elif part == "neurons":
        from medwave.neuron.demo import run_demo
    elif part == "gaze":
        from medwave.gaze.demo import run_demo
    else:
        raise ValueError(f"Unknown demo part {part!r}; choose from {', '.join(DEMO_PARTS)}.")
    return run_demo


def _jsonable(obj: Any) -> Any:
    """Make a demo's return value JSON-serialisable (paths and arrays become strings and lists)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def run_demos(outdir: Union[str, os.PathLike], *, parts: Optional[Sequence[str]] = None,
              progress: bool = True) -> dict[str, dict]:
    """Run the demo parts into ``outdir/<part>/`` and write ``outdir/summary.json``.

    Args:
        outdir: Output folder (created; the demo's own files in it are replaced).
        parts: Which parts, in order; default all of :data:`DEMO_PARTS`.
        progress: Progress bars and a line per step.

    Returns:
        ``{part: {"status": "ok" | "failed", "seconds": ..., "result" | "error": ...}}``.

    Raises:
        ValueError: An unknown part name.
    """
    chosen = list(parts) if parts else list(DEMO_PARTS)
    unknown = [p for p in chosen if p not in DEMO_PARTS]
    if unknown:
        raise ValueError(f"Unknown demo part(s) {', '.join(unknown)}; choose from {', '.join(DEMO_PARTS)}.")
    out = Path(outdir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    for part in chosen:
        if progress:
            print(f"== medwave demo: {part} -> {out / part}", flush=True)
        t0 = time.perf_counter()
        try:
            result = _runner(part)(out / part, progress=progress)
            report[part] = {"status": "ok", "seconds": round(time.perf_counter() - t0, 2), "result": _jsonable(result)}
        except Exception as exc:  # one failing part must not hide the others
            report[part] = {"status": "failed", "seconds": round(time.perf_counter() - t0, 2),
                            "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            if progress:
                print(f"   {part} FAILED: {type(exc).__name__}: {exc}", flush=True)
    from medwave.utils.atomic import atomic_path

    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    return report
