"""nnU-Net style folder batches: ``medwave batch TASK -i FOLDER -o FOLDER``, same case names out, flat.

Every image directly inside the input folder is a case; its outputs land side by side in the output folder,
named after the case (``case_001.nii.gz`` -> ``OUT/case_001.nii.gz``):

=================  =================================  ==================================================
task               ``OUT/<case><ext>`` holds           other files
=================  =================================  ==================================================
denoise            the denoised image                  none
segment-neurons    the binary mask                     ``<case>_probability<ext>``, ``<case>.swc``
register           the moving image warped to fixed    ``<case>_transform/`` (the transform folder that
                                                       ``medwave apply`` reads), ``<case>_jacdet.nii.gz``,
                                                       ``<case>_metrics.json`` (and ``<case>_warped_seg``)
gaze               (no image)                          ``<case>_gaze_points.csv``, ``<case>_gaze_heatmap.npy``
                                                       / ``.png``, ``<case>_gaze_overlay.png``,
                                                       ``<case>_summary.json``
=================  =================================  ==================================================

Bookkeeping lives in ``OUT/.medwave_batch/`` (one completion marker per case, for ``resume``);
``OUT/summary.csv`` and ``OUT/failures.json`` are as for the other batch forms. A case's files are
written atomically into its bookkeeping folder and moved into ``OUT`` (same file system, atomic
renames) before its marker is written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Sequence, Union

from medwave.batch.manifest import items_from_folder
from medwave.batch.runner import MARKER, TRASH_PREFIX, BatchReport, _scratch_name, run_batch
from medwave.utils.paths import split_extension

__all__ = ["STATE_DIR", "PRIMARY", "flat_name", "FlatTask", "run_folder"]

#: Bookkeeping sub-folder of the output folder (markers of finished cases).
STATE_DIR = ".medwave_batch"
#: Per task, the output file (stem) that takes the case's own name.
PRIMARY: dict[str, Optional[str]] = {"denoise": "denoised", "segment-neurons": "mask", "register": "warped",
                                     "gaze": None}
def flat_name(task: str, case: str, filename: str) -> str:
    """The flat output name of ``filename`` (a task output) for ``case``.

    Example:
        >>> flat_name("denoise", "case_001", "denoised.nii.gz")
        'case_001.nii.gz'
        >>> flat_name("register", "sub-02", "jacdet.nii.gz")
        'sub-02_jacdet.nii.gz'
        >>> flat_name("segment-neurons", "n1", "neuron.swc")
        'n1.swc'
    """
    stem, ext = split_extension(filename)
    if stem == PRIMARY.get(task):
        return case + ext
    if task == "segment-neurons" and filename == "neuron.swc":
        return case + ".swc"
    return f"{case}_{filename}"


TRANSFORM_MANIFEST = "transform.json"


def _gather_transform(item_dir: Path) -> None:
    """Move a registration's transform files (those its ``transform.json`` lists) into ``item_dir/transform/``.

    The transform stays a folder, so that ``medwave apply OUT/<case>_transform ...`` reads it as it is.
    """
    import json

    manifest = item_dir / TRANSFORM_MANIFEST
    if not manifest.is_file():
        return
    files = json.loads(manifest.read_text())["files"].values()
    sub = item_dir / "transform"
    sub.mkdir(exist_ok=True)
    for name in [*files, TRANSFORM_MANIFEST]:
        if (item_dir / name).exists():
            os.replace(item_dir / name, sub / name)


class FlatTask:
    """A batch task that moves the item's outputs into one flat folder under :func:`flat_name` names.

    Picklable (Dask ships it to the workers); ``task`` is the wrapped task name.
    """

    def __init__(self, task: str, output: Union[str, os.PathLike]) -> None:
        self.task = task
        self.output = str(output)

    def __call__(self, inputs: dict, item_dir: Path, options: dict) -> dict:
        from medwave.batch.tasks import TASK_FUNCS

        metrics = dict(TASK_FUNCS[self.task](inputs, item_dir, options) or {})
        if self.task == "register":
            _gather_transform(item_dir)
        moved = []
        for f in sorted(item_dir.iterdir()):
            if f.name == MARKER or f.name.startswith("."):
                continue
            target = Path(self.output) / flat_name(self.task, item_dir.name, f.name)
            if target.is_dir():
                if not (target / TRANSFORM_MANIFEST).is_file():  # only a transform folder medwave wrote is replaced
                    raise FileExistsError(f"{target} is a folder medwave did not write; move it away or choose "
                                          "another output folder.")
                # renamed out of the way before it is deleted: a kill midway leaves scratch that a resumed batch
                # removes, never a half transform folder under the case's name
                trash = Path(self.output) / STATE_DIR / _scratch_name(TRASH_PREFIX, target.name)
                os.rename(target, trash)
                os.replace(f, target)
                shutil.rmtree(trash)
                moved.append(target.name)
                continue
            os.replace(f, target)
            moved.append(target.name)
        metrics["outputs"] = " ".join(moved)
        return metrics

    def __repr__(self) -> str:
        return f"FlatTask({self.task!r}, {self.output!r})"


def run_folder(task: str, input_dir: Union[str, os.PathLike], output_dir: Union[str, os.PathLike], *,
               fixed: Optional[Union[str, os.PathLike]] = None, report: Optional[Sequence[str]] = None,
               **kwargs) -> BatchReport:
    """Run ``task`` on every image of ``input_dir``; outputs flat in ``output_dir`` under the case names.

    Args:
        task: ``register``, ``denoise``, ``segment-neurons`` or ``gaze``.
        input_dir: Folder of input images (not searched recursively).
        output_dir: Output folder (created; must differ from ``input_dir``).
        fixed: ``register``: the fixed image of every case.
        report: ``gaze``: the sentence(s) for every radiograph.
        **kwargs: Passed to :func:`~medwave.batch.run_batch` (``resume``, ``workers``, ``scheduler``,
            ``progress``, ``threads_per_worker``, ``options``).

    Returns:
        The :class:`~medwave.batch.BatchReport`; its ``outdir`` is ``output_dir``.

    Example:
        >>> from medwave.batch import run_folder  # doctest: +SKIP
        >>> run_folder("denoise", "scans", "denoised", workers=0).done  # doctest: +SKIP
        ['case_001', 'case_002']
    """
    out = Path(output_dir).expanduser().resolve()
    items = items_from_folder(task, input_dir, output=out, fixed=fixed, report=report)
    if not kwargs.get("resume"):
        done = [it.name for it in items if (out / STATE_DIR / it.name / MARKER).exists()]
        if done:
            raise FileExistsError(f"{out}: case(s) {', '.join(done[:5])}{' ...' if len(done) > 5 else ''} already "
                                  "done by an earlier run into this folder; pass resume=True (CLI: --resume) to skip "
                                  "finished cases, or choose another output folder.")
    out.mkdir(parents=True, exist_ok=True)
    rep = run_batch(FlatTask(task, out), items, out / STATE_DIR, **kwargs)
    from medwave.utils import atomic_write_bytes

    for name in ("summary.csv", "failures.json"):
        atomic_write_bytes(out / name, (out / STATE_DIR / name).read_bytes())
    rep.outdir = out
    return rep
