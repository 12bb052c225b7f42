"""Many volumes at once: manifests, resume, atomic outputs, Dask distributed.

``run_batch`` is the one functional core; ``medwave batch`` only parses and calls it. Dask is
imported only when a parallel run starts, never at ``import medwave`` or ``import medwave.batch``.

Example:
    >>> from medwave.batch import run_batch, load_manifest  # doctest: +SKIP
    >>> items = load_manifest("datalist.json", "denoise")  # doctest: +SKIP
    >>> report = run_batch("denoise", items, "out", workers=2)  # doctest: +SKIP
    >>> report.n_failed  # doctest: +SKIP
    0
    >>> run_folder("denoise", "scans", "denoised")  # nnU-Net style: scans/a.nii.gz -> denoised/a.nii.gz  # doctest: +SKIP
"""

from __future__ import annotations

from medwave.batch.folder import run_folder
from medwave.batch.manifest import TASKS, BatchItem, items_from_folder, items_from_glob, load_manifest
from medwave.batch.runner import MARKER, BatchReport, run_batch

__all__ = ["run_batch", "run_folder", "BatchReport", "BatchItem", "load_manifest", "items_from_glob",
           "items_from_folder", "TASKS", "MARKER"]
