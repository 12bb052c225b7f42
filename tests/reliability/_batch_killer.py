"""A batch task and driver for the kill-and-resume tests (run in a subprocess, killed with SIGKILL).

``kill_task`` writes its outputs in two steps and appends to a log; when the environment variable
``MEDWAVE_KILL_AT`` is ``"<item>:<phase>"`` it SIGKILLs its own process at that point:

* ``start``: before writing anything for the item (the previous item's marker is on disk);
* ``mid``: after the first output file, before the second (a half-written item);
* ``end``: after every output and the log line, before ``run_batch`` writes the completion marker;
* ``staged``: inside ``run_batch``, after the item's folder was built under its scratch name with its ownership
  marker, before it is renamed to the item's name;
* ``discarding``: inside ``run_batch``, after a half item of a killed run was renamed out of the way, before it is
  deleted (with its ownership marker already gone, as a kill midway through a recursive delete can leave it).

Run as ``python -m tests.reliability._batch_killer OUTDIR N [--resume]``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path


def _maybe_die(name: str, phase: str) -> None:
    if os.environ.get("MEDWAVE_KILL_AT") == f"{name}:{phase}":
        os.kill(os.getpid(), signal.SIGKILL)


def kill_task(inputs: dict, item_dir: Path, options: dict) -> dict:
    """Write ``a.txt`` and ``b.txt`` (the item's value doubled), log the item, maybe die on the way.

    Args:
        inputs: ``{"value": int}``.
        item_dir: The item's output folder (fresh).
        options: ``{"log": path}``.

    Returns:
        ``{"value": ..., "double": ...}`` metrics.
    """
    name = item_dir.name
    _maybe_die(name, "start")
    (item_dir / "a.txt").write_text(str(inputs["value"]))
    _maybe_die(name, "mid")
    (item_dir / "b.txt").write_text(str(2 * inputs["value"]))
    with open(options["log"], "a") as fh:
        fh.write(name + "\n")
    _maybe_die(name, "end")
    return {"value": inputs["value"], "double": 2 * inputs["value"]}


def items(n: int) -> list:
    """``n`` items ``it00..`` with values ``0..n-1``."""
    from medwave.batch.manifest import BatchItem

    return [BatchItem(f"it{i:02d}", {"value": i}, f"test[{i}]") for i in range(n)]


def _install_runner_kill_points() -> None:
    """Wrap ``os.rename`` (this subprocess only) to die at the ``staged`` and ``discarding`` points."""
    from medwave.batch import runner

    rename = os.rename

    def killing_rename(src, dst) -> None:  # type: ignore[no-untyped-def]
        src_name, dst_name = Path(src).name, Path(dst).name
        if src_name.startswith(runner.STAGING_PREFIX):
            _maybe_die(dst_name, "staged")
        rename(src, dst)
        if dst_name.startswith(runner.TRASH_PREFIX) and os.environ.get("MEDWAVE_KILL_AT") == f"{src_name}:discarding":
            (Path(dst) / runner.OWNER_MARKER).unlink(missing_ok=True)
            _maybe_die(src_name, "discarding")

    os.rename = killing_rename  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    """Run the batch sequentially (``workers=0``), printing the report as JSON."""
    from medwave.batch import run_batch

    _install_runner_kill_points()

    out, n, resume = Path(argv[0]), int(argv[1]), "--resume" in argv
    rep = run_batch(kill_task, items(n), out, workers=0, resume=resume, progress=False,
                    options={"log": str(out.parent / "log.txt")})
    print(json.dumps({"done": rep.done, "skipped": rep.skipped, "failed": list(rep.failed)}))
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
