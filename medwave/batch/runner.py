"""``run_batch``: one task per item, sequential or on Dask distributed, resumable.

Per item ``OUTDIR/<name>/`` is created by the batch together with its ownership marker ``.medwave_item.json``
(the item's inputs and their fingerprint), then receives the task's outputs (each written atomically) and,
LAST, the completion marker ``.medwave_done.json`` (atomic rename; the item's metrics and the fingerprint).

The batch owns only what it made: a folder under ``OUTDIR`` with an item's name but without either marker was
not made by medwave and is never deleted (the run stops before any work, naming it). ``resume=True`` skips an
item whose completion marker matches its inputs' fingerprint (size and modification time of every input file,
and the task options); an item whose input changed since is redone. An owned folder without a completion marker
(a killed run) is deleted and redone from scratch. An item folder is built under a scratch name
(``.medwave_new_<pid>_...``) and renamed to the item's name once it holds its ownership marker, and a folder to be
deleted is first renamed to ``.medwave_old_<pid>_...``, so a kill at any instant never leaves an unmarked folder
under an item's name; a batch removes the scratch folders of dead processes when it starts. Item names that would collide with the batch's own files
(``summary.csv``, ``failures.json``, the markers) are refused. Failures (with traceback) go to
``OUTDIR/failures.json``, per-item metrics of every completed item to ``OUTDIR/summary.csv`` (one row per
item, never duplicated).

With ``workers=None`` the runner estimates the sequential run time (:func:`medwave.batch.tasks.estimate_seconds`)
and runs a handful of small items in this process, saying so: starting Dask workers (each imports torch and
the pipeline, a few seconds) would cost more than it saves. A Dask cluster's workers import the task's
modules once at start (a worker plugin) and stay warm for every item; the dashboard link is printed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from medwave.batch.manifest import BatchItem
from medwave.utils import atomic_write_bytes, progress_bar
from medwave.utils.atomic import remove_stale_temporaries

__all__ = ["run_batch", "BatchReport", "MARKER", "OWNER_MARKER", "RESERVED_NAMES", "run_item", "fingerprint",
           "CLUSTER_OVERHEAD_SECONDS", "remove_dead_scratch", "STAGING_PREFIX",
           "TRASH_PREFIX"]

MARKER = ".medwave_done.json"
OWNER_MARKER = ".medwave_item.json"
#: Names an item may not take (the batch's own files in OUTDIR), compared case-insensitively.
RESERVED_NAMES = frozenset({"summary.csv", "failures.json", MARKER, OWNER_MARKER, ".", ".."})
#: Extra wall time of a local cluster over an in-process run (worker processes start and import torch and
#: the pipeline in parallel with each other, but after the client). ``workers=None`` starts a cluster only
#: when the estimated time it saves is at least twice this.
CLUSTER_OVERHEAD_SECONDS = 4.0
TaskLike = Union[str, Callable[[dict, Path, dict], dict]]


@dataclass
class BatchReport:
    """Outcome of :func:`run_batch`.

    Attributes:
        done: Names of items completed in this run.
        skipped: Names skipped because their marker existed and matched their inputs (``resume=True``).
        redone: Names whose marker existed but whose inputs (or options) changed since: redone.
        failed: ``{name: {"error", "traceback", "inputs"}}`` of items that failed.
        rows: Summary rows (one per completed item, this run or earlier), as written to summary.csv.
        seconds: Wall time.
        mode: How the items ran (``"sequential ..."``, ``"local cluster, 2 workers ..."``, ``"scheduler ..."``).
    """

    outdir: Path
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)
    failed: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = ""

    @property
    def n_failed(self) -> int:
        """Number of failed items."""
        return len(self.failed)

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.failed


def _task_func(task: TaskLike) -> Callable[[dict, Path, dict], dict]:
    if callable(task):
        return task
    from medwave.batch.tasks import TASK_FUNCS

    if task not in TASK_FUNCS:
        raise ValueError(f"unknown batch task {task!r}; choose one of {', '.join(TASK_FUNCS)}.")
    return TASK_FUNCS[task]


def fingerprint(inputs: dict, options: Optional[dict] = None) -> dict:
    """What an item's result depends on: ``[size, mtime_ns]`` of every input file and the task options.

    A resumed batch redoes an item whose fingerprint differs from the one in its completion marker.
    """
    files = {}
    for key, value in sorted(inputs.items()):
        if not isinstance(value, (str, os.PathLike)) or key == "report":
            continue
        try:
            st = os.stat(value)
            files[key] = [int(st.st_size), int(st.st_mtime_ns)]
        except OSError:
            files[key] = None
    opts = json.loads(json.dumps(options or {}, sort_keys=True, default=str))
    return {"files": files, "options": opts}


def _owned(item_dir: Path) -> bool:
    """True when ``item_dir`` is a real folder that a batch created (it holds one of the batch's markers)."""
    return (item_dir.is_dir() and not item_dir.is_symlink()
            and ((item_dir / OWNER_MARKER).is_file() or (item_dir / MARKER).is_file()))


def run_item(task: TaskLike, name: str, inputs: dict, outdir: str, options: dict,
             threads: Optional[int] = 1, fp: Optional[dict] = None) -> dict:
    """Run one item in this process (the function Dask ships to workers); never raises for item errors.

    Args:
        task: Task name or callable (see :func:`run_batch`).
        name: Item name (its output folder under ``outdir``).
        inputs: The item's inputs.
        outdir: The batch's output folder.
        options: Task options.
        threads: torch/OMP threads to set in this process (once per process); ``None`` leaves the
            process's setting alone (the in-process sequential mode must not change the caller's torch).
        fp: The item's :func:`fingerprint` (computed when None); a completion marker with another one is stale.

    Returns:
        ``{"name", "status": "done"|"failed", "metrics"|"error"+"traceback"}``.
    """
    from medwave.batch.tasks import configure_threads

    if threads is not None:
        configure_threads(threads)
    item_dir = Path(outdir) / name
    t0 = time.perf_counter()
    fp = fp if fp is not None else fingerprint(inputs, options)
    done = _read_marker(item_dir)
    if done is not None and done.get("fingerprint", fp) == fp:
        # Dask recomputes a result lost with a dead worker: the item is already on disk
        return {"name": name, "status": "done", "metrics": done.get("metrics", {})}
    try:
        if item_dir.exists() or item_dir.is_symlink():
            if not _owned(item_dir):
                raise FileExistsError(f"{item_dir} exists and was not created by medwave batch (no "
                                      f"{OWNER_MARKER}); medwave never deletes it. Move it or choose another "
                                      "output folder.")
            _discard_owned(item_dir)  # ours: a half item from a killed run, or a stale result of a changed input
        owner = {"name": name, "inputs": inputs, "fingerprint": fp, "created": time.time(), "pid": os.getpid()}
        _create_owned(item_dir, owner)
        metrics = dict(_task_func(task)(dict(inputs), item_dir, dict(options)) or {})
        metrics.setdefault("item_seconds", round(time.perf_counter() - t0, 4))
        marker = {"name": name, "inputs": inputs, "metrics": metrics, "finished": time.time(), "pid": os.getpid(),
                  "fingerprint": fp}
        atomic_write_bytes(item_dir / MARKER, json.dumps(marker, indent=1, default=str).encode())
        return {"name": name, "status": "done", "metrics": metrics}
    except Exception as exc:  # noqa: BLE001 - every item error is captured and reported
        return {"name": name, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}


#: Prefixes of the batch's scratch folders in OUTDIR: an item folder being born (it gets its ownership marker
#: before it takes the item's name) and one being thrown away (renamed before it is deleted). A kill at any moment
#: leaves either the item folder with its marker or a scratch folder, never an unmarked folder with an item's name.
STAGING_PREFIX = ".medwave_new_"
TRASH_PREFIX = ".medwave_old_"


def _scratch_name(prefix: str, name: str) -> str:
    return f"{prefix}{os.getpid()}_{os.urandom(4).hex()}_{name}"


def _create_owned(item_dir: Path, owner: dict) -> None:
    """Create ``item_dir`` holding its ownership marker, atomically: built under a scratch name, then renamed."""
    item_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = item_dir.parent / _scratch_name(STAGING_PREFIX, item_dir.name)
    staging.mkdir()
    try:
        atomic_write_bytes(staging / OWNER_MARKER, json.dumps(owner, indent=1, default=str).encode())
        os.rename(staging, item_dir)  # fails (and we clean up) if something took the name meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _discard_owned(item_dir: Path) -> None:
    """Delete an owned item folder: renamed out of the item's name first, so a kill mid-delete leaves scratch."""
    trash = item_dir.parent / _scratch_name(TRASH_PREFIX, item_dir.name)
    os.rename(item_dir, trash)
    shutil.rmtree(trash)


def remove_dead_scratch(out: Path) -> list[Path]:
    """Delete the scratch folders (:data:`STAGING_PREFIX`, :data:`TRASH_PREFIX`) a killed batch left in ``out``.

    Only folders of exactly that form whose creating process no longer exists on this machine are touched, so a
    batch running beside this one keeps its own. Returns what was removed.
    """
    from medwave.utils.atomic import _pid_alive

    removed: list[Path] = []
    try:
        entries = list(os.scandir(out))
    except OSError:
        return removed
    for e in entries:
        for prefix in (STAGING_PREFIX, TRASH_PREFIX):
            if not e.name.startswith(prefix):
                continue
            pid_text = e.name[len(prefix):].split("_", 1)[0]
            if not pid_text.isdigit() or _pid_alive(int(pid_text)) or not e.is_dir(follow_symlinks=False):
                continue
            shutil.rmtree(e.path, ignore_errors=True)
            removed.append(Path(e.path))
    return removed


def _read_marker(item_dir: Path) -> Optional[dict]:
    try:
        return json.loads((item_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write_outputs(report: BatchReport, items: Sequence[BatchItem]) -> None:
    out = report.outdir
    rows = []
    for it in items:
        m = _read_marker(out / it.name)
        if m is not None:
            rows.append({"name": it.name, **{k: v for k, v in m.get("metrics", {}).items()
                                             if not isinstance(v, (dict, list))}})
    report.rows = rows
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols or ["name"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    for name in ("summary.csv", "failures.json"):  # temporaries of a run killed while writing them
        remove_stale_temporaries(out / name)
    atomic_write_bytes(out / "summary.csv", buf.getvalue().encode())
    atomic_write_bytes(out / "failures.json", json.dumps(report.failed, indent=1, default=str).encode())


def _check_inputs_outside(items: Sequence[BatchItem], out: Path) -> None:
    """Raise if an item reads a file inside the output folder (it would read the batch's own outputs)."""
    for it in items:
        for key, value in it.inputs.items():
            if not isinstance(value, (str, os.PathLike)) or key == "report":
                continue
            try:
                inside = Path(value).expanduser().resolve().is_relative_to(out)
            except (OSError, ValueError):
                continue
            if inside:
                where = f" ({it.source})" if it.source else ""
                raise ValueError(
                    f"item {it.name!r}{where}: its {key} {value} is inside the output folder {out}; a batch must not "
                    f"read its own outputs. Choose an output folder outside the inputs (or move the input)."
                )


def _check_names(items: Sequence[BatchItem], out: Path) -> None:
    """Refuse reserved item names, and item folders that exist but were not made by a batch (never deleted)."""
    foreign = []
    for it in items:
        name = str(it.name)
        where = f" ({it.source})" if it.source else ""
        if (name.lower() in RESERVED_NAMES or name.startswith(".") or not name or "/" in name or "\\" in name
                or name != Path(name).name):
            raise ValueError(f"item {name!r}{where}: this name is reserved or not a plain folder name (the batch "
                             f"writes {', '.join(sorted(RESERVED_NAMES - {'.', '..'}))} into the output folder); "
                             "give the entry another \"name\".")
        d = out / name
        if (d.exists() or d.is_symlink()) and not _owned(d):
            foreign.append(str(d))
    if foreign:
        raise FileExistsError(
            f"{len(foreign)} item folder(s) already exist under {out} and were not created by medwave batch: "
            f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}. medwave never deletes what it did not make; "
            "move them away or choose another output folder.")


def run_batch(
    task: TaskLike,
    items: Sequence[BatchItem],
    outdir: Union[str, os.PathLike],
    *,
    resume: bool = False,
    workers: Optional[int] = None,
    scheduler: Optional[str] = None,
    progress: bool = True,
    threads_per_worker: Optional[int] = None,
    options: Optional[dict] = None,
) -> BatchReport:
    """Run ``task`` on every item, writing ``OUTDIR/<item>/``, ``summary.csv`` and ``failures.json``.

    Args:
        task: ``"register"``, ``"denoise"``, ``"segment-neurons"``, ``"gaze"`` or a picklable callable
            ``f(inputs, item_dir, options) -> metrics`` importable on the workers.
        items: From :func:`~medwave.batch.load_manifest` or :func:`~medwave.batch.items_from_glob`.
        outdir: Output folder (created).
        resume: Skip items whose completion marker exists. Without it, an existing complete item is an error
            (``FileExistsError``) so nothing is overwritten by accident.
        workers: Local Dask workers; ``0`` runs in-process without Dask. Default ``None``: one worker per CPU
            (at most the number of items), unless the items are few and small enough that an in-process run is
            faster (estimated; the choice is printed when ``progress`` is on and kept in ``BatchReport.mode``).
        scheduler: Address of an existing Dask scheduler (``tcp://host:8786``); ``workers`` is then ignored.
        progress: Overall tqdm bar.
        threads_per_worker: torch/OMP threads per worker process (default 1).
        options: Task options (e.g. ``{"iterations": 50}`` for register, ``{"wavelet": "db2"}`` for denoise).

    Returns:
        A :class:`BatchReport`.

    Raises:
        ValueError: An item's input file lies inside ``outdir`` (checked before anything is written).
        FileExistsError: An item is already complete and ``resume`` is False.
    """
    t0 = time.perf_counter()
    out = Path(outdir).expanduser().resolve()
    task_func = _task_func(task)  # an unknown task name is one clear error, not one failure per item
    _check_inputs_outside(items, out)
    _check_names(items, out)
    options = dict(options or {})
    if isinstance(task, str):
        from medwave.batch.options import validate_options

        options = validate_options(task, options)
    del task_func
    out.mkdir(parents=True, exist_ok=True)
    remove_dead_scratch(out)
    report = BatchReport(outdir=out)
    todo, fps = [], {}
    for it in items:
        fps[it.name] = fingerprint(it.inputs, options)
        marker = _read_marker(out / it.name)
        if marker is not None:
            if not resume:
                raise FileExistsError(f"{out / it.name} is already complete from an earlier run; pass resume=True "
                                      "(CLI: --resume) to skip finished items, or choose another output folder.")
            if marker.get("fingerprint", fps[it.name]) == fps[it.name]:
                report.skipped.append(it.name)
                continue
            report.redone.append(it.name)  # its input (or the options) changed since: redo it
        todo.append(it)
    by_name = {it.name: it for it in todo}
    if todo and workers is None and scheduler is None:
        workers, report.mode = _choose_workers(task, todo)
        _say(f"batch: {report.mode}", progress)
    bar = progress_bar(total=len(items), desc=f"batch {_task_name(task)}",
                       enabled=progress, initial=len(report.skipped))

    def record(res: dict) -> None:
        if res["status"] == "done":
            report.done.append(res["name"])
        else:
            report.failed[res["name"]] = {"error": res["error"], "traceback": res["traceback"],
                                          "inputs": by_name[res["name"]].inputs,
                                          "source": by_name[res["name"]].source}
        bar.update(1)

    try:
        if todo and (workers == 0 and scheduler is None):
            report.mode = report.mode or "sequential (in this process)"
            for it in todo:
                record(run_item(task, it.name, it.inputs, str(out), options, threads_per_worker, fps[it.name]))
        elif todo:
            report.mode = _run_dask(task, todo, out, options, workers, scheduler, threads_per_worker or 1, record,
                                    fps, progress) + (f"; {report.mode}" if report.mode else "")
    finally:
        bar.close()
        report.seconds = time.perf_counter() - t0
        _write_outputs(report, items)
    return report


def _task_name(task: TaskLike) -> str:
    name = getattr(task, "task", task)  # FlatTask (medwave.batch.folder) wraps a task name
    return name if isinstance(name, str) else "task"


def _say(msg: str, enabled: bool) -> None:
    """Print a one-line note on stderr (through tqdm, so an open progress bar stays intact)."""
    if enabled and not os.environ.get("MEDWAVE_NO_PROGRESS"):
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)


def _choose_workers(task: TaskLike, todo: Sequence[BatchItem]) -> tuple[int, str]:
    """``workers=None``: one local worker per CPU, or 0 (in-process) when a cluster would not pay off."""
    from medwave.batch.tasks import estimate_seconds

    n = max(1, min(os.cpu_count() or 1, len(todo)))
    est = estimate_seconds(getattr(task, "task", task), todo)
    if n == 1:
        return 0, f"{len(todo)} item(s) on 1 CPU: running them in this process (--workers N forces a Dask cluster)"
    if est * (1 - 1 / n) < 2 * CLUSTER_OVERHEAD_SECONDS:
        return 0, (f"{len(todo)} small item(s), about {est:.0f} s of work: running them in this process, as starting "
                   f"Dask workers would cost more than it saves (--workers N forces a cluster)")
    return n, ""


def _dashboard_available() -> bool:
    try:
        import bokeh  # noqa: F401 - the Dask dashboard needs bokeh

        return True
    except ImportError:
        return False


def _run_dask(task, todo, out, options, workers, scheduler, threads, record, fps, progress=False) -> str:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        n = workers if workers is not None else (os.cpu_count() or 1)
        n = max(1, min(int(n), len(todo)))
        env = {v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        import dask

        # one task at a time per worker: a crashing item takes down no queued neighbour with it. No statistical
        # profiler (it takes the GIL every 10 ms: torch-heavy items ran ~1.5x slower) and glibc's default
        # malloc trimming (Dask's 64 KiB threshold returns torch's large buffers to the OS after every step).
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                              "distributed.worker.profile.enabled": False,
                              "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address="127.0.0.1:0" if _dashboard_available() else None,
                                   env=env, silence_logs=40)
        client = Client(cluster)
        mode = f"local Dask cluster, {n} worker(s) x {threads} thread(s)"
    else:
        client = Client(scheduler)
        mode = f"Dask scheduler {scheduler}"
    link = client.dashboard_link if (scheduler is not None or _dashboard_available()) else None
    mode += f", dashboard {link}" if link else " (install bokeh for the Dask dashboard)"
    _say(f"batch: {mode}", progress)
    name = _task_name(task)
    if name != "task":
        from medwave.batch.warm import WarmWorkers

        client.register_plugin(WarmWorkers(name))  # waits until every worker has imported the task's modules
    try:
        futures = {}
        for it in todo:
            f = client.submit(run_item, task, it.name, it.inputs, str(out), options, threads, fps[it.name],
                              key=f"medwave-batch-{it.name}-{time.time_ns()}", pure=False)
            futures[f] = it
        for f in as_completed(futures):
            it = futures[f]
            try:
                res = f.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker when the worker process died
                marker = _read_marker(out / it.name)
                if marker is not None and marker.get("fingerprint") == fps[it.name]:  # finished on disk; only its in-memory result died with the worker
                    record({"name": it.name, "status": "done", "metrics": marker.get("metrics", {})})
                    continue
                res = {"name": it.name, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                       "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                       + "\n(the worker process running this item died: out of memory, a crash or a kill; "
                         "re-run with --resume)"}
            record(res)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return mode
