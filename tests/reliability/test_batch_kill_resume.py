"""Faults in batch runs: a sequential ``run_batch`` SIGKILLed at random points, then resumed.

The process is killed for real (``SIGKILL`` from inside its own task, so no ``finally`` block, atexit hook
or buffered write gets a chance to tidy up) at seeded random points: before an item writes anything, halfway
through its outputs, or after all its outputs but before its completion marker. The batch is resumed with
``resume=True`` (possibly killed again) until it finishes. Then nothing may be lost (every item complete, with
correct outputs and its marker), nothing duplicated (``summary.csv`` has one row per item, items finished
before a kill are skipped, not redone) and nothing stray (no temporary or half-written file left).
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from medwave.batch.runner import MARKER, OWNER_MARKER

ROOT = Path(__file__).resolve().parents[2]
N_ITEMS = 8
PHASES = ("start", "mid", "end")


def _run(out: Path, kill_at: str | None, resume: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", MEDWAVE_NO_PROGRESS="1")
    env.pop("MEDWAVE_KILL_AT", None)
    if kill_at:
        env["MEDWAVE_KILL_AT"] = kill_at
    argv = [sys.executable, "-m", "tests.reliability._batch_killer", str(out), str(N_ITEMS)]
    return subprocess.run(argv + (["--resume"] if resume else []), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def _markers(out: Path) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in sorted(out.glob(f"*/{MARKER}"))}


def _kill_plan(seed: int, kills: int = 3) -> list[tuple[int, str]]:
    """``kills`` kill points (item index, phase), item indices non-decreasing so each one is reached."""
    rng = random.Random(seed)
    idx = sorted(rng.randrange(N_ITEMS) for _ in range(kills))
    return [(i, rng.choice(PHASES)) for i in idx]


@pytest.mark.parametrize("seed", range(6))
def test_sequential_batch_killed_at_random_points_then_resumed(seed: int, tmp_path: Path) -> None:
    """Kill, resume, kill, resume...: every item exactly once in the outputs, finished items never redone."""
    out = tmp_path / "out"
    plan = _kill_plan(seed)
    finished: dict[str, str] = {}
    for run, (k, phase) in enumerate(plan):
        proc = _run(out, f"it{k:02d}:{phase}", resume=run > 0)
        assert proc.returncode == -9, f"run {run} was not killed at it{k:02d}:{phase}: {proc.stderr[-2000:]}"
        markers = _markers(out)
        assert set(markers) == {f"it{i:02d}" for i in range(k)}, "markers must be exactly the items before the kill"
        for name, text in finished.items():
            assert markers[name] == text, f"{name} was redone although it was complete"
        finished = markers
        killed_dir = out / f"it{k:02d}"
        if phase != "start":
            assert killed_dir.exists() and not (killed_dir / MARKER).exists()  # a half item, unmarked
    proc = _run(out, None, resume=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    last_k = plan[-1][0]
    assert report["skipped"] == [f"it{i:02d}" for i in range(last_k)]
    assert report["done"] == [f"it{i:02d}" for i in range(last_k, N_ITEMS)] and report["failed"] == []
    # nothing lost: every item complete and correct
    for i in range(N_ITEMS):
        d = out / f"it{i:02d}"
        assert (d / "a.txt").read_text() == str(i) and (d / "b.txt").read_text() == str(2 * i)
        marker = json.loads((d / MARKER).read_text())
        assert marker["metrics"]["double"] == 2 * i
        assert sorted(p.name for p in d.iterdir()) == sorted(["a.txt", "b.txt", MARKER, OWNER_MARKER]), "stray file in the item"
    for name, text in finished.items():
        assert (out / name / MARKER).read_text() == text
    # nothing duplicated: one summary row per item, in manifest order
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == [f"it{i:02d}" for i in range(N_ITEMS)]
    assert [int(r["double"]) for r in rows] == [2 * i for i in range(N_ITEMS)]
    assert json.loads((out / "failures.json").read_text()) == {}
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporary files left in the batch folder"
    # the log shows which items ran more than once: only those killed after logging, before their marker
    log = (tmp_path / "log.txt").read_text().split()
    redone = {f"it{k:02d}" for k, phase in plan if phase == "end"}
    for i in range(N_ITEMS):
        name = f"it{i:02d}"
        expected = 1 + sum(1 for k, phase in plan if phase == "end" and f"it{k:02d}" == name)
        assert log.count(name) == expected, (name, log.count(name), expected, redone)


def test_without_resume_a_finished_item_is_not_overwritten(tmp_path: Path) -> None:
    """A second run without ``resume`` over a partly finished batch refuses (exit 1 + clear error), changes nothing."""
    out = tmp_path / "out"
    assert _run(out, "it03:mid", resume=False).returncode == -9
    before = _markers(out)
    proc = _run(out, None, resume=False)
    assert proc.returncode != 0 and "resume" in proc.stderr
    assert _markers(out) == before


def test_killed_while_an_item_folder_is_born_or_discarded_then_resumed(tmp_path: Path) -> None:
    """Kills inside the runner's own folder handling never leave an unmarked folder under an item's name.

    CI once caught a kill between creating an item folder and writing its ownership marker: the resumed batch then
    refused the folder as foreign. Item folders are now built under a scratch name and renamed, and thrown away by
    renaming first; scratch left by a dead run is removed on resume.
    """
    out = tmp_path / "out"
    assert _run(out, "it02:mid", resume=False).returncode == -9
    assert _run(out, "it02:discarding", resume=True).returncode == -9  # the half it02 is being thrown away
    scratch = [p.name for p in out.iterdir() if p.name.startswith(".medwave_old_")]
    assert len(scratch) == 1 and not (out / "it02").exists()
    assert _run(out, "it02:staged", resume=True).returncode == -9  # the new it02 is being born
    assert [p.name for p in out.iterdir() if p.name.startswith(".medwave_new_")] and not (out / "it02").exists()
    assert _run(out, "it05:staged", resume=True).returncode == -9
    proc = _run(out, None, resume=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["skipped"] == ["it00", "it01", "it02", "it03", "it04"] and report["failed"] == []
    for i in range(N_ITEMS):
        assert (out / f"it{i:02d}" / "b.txt").read_text() == str(2 * i)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "scratch of the killed runs left behind"


def test_a_live_batch_scratch_folder_is_never_removed(tmp_path: Path) -> None:
    """Scratch folders of a process that is still alive (another batch) are kept; a dead one's are removed."""
    from medwave.batch.runner import STAGING_PREFIX, TRASH_PREFIX, remove_dead_scratch

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f"{STAGING_PREFIX}{proc.pid}_00000000_a"
        dead_pid = proc.pid
        live.mkdir()
        foreign = tmp_path / ".medwave_new_notapid_b"
        foreign.mkdir()
        assert remove_dead_scratch(tmp_path) == [] and live.exists() and foreign.exists()
    finally:
        proc.kill()
        proc.wait()
    dead = tmp_path / f"{TRASH_PREFIX}{dead_pid}_00000000_c"
    dead.mkdir()
    (dead / "x.txt").write_text("x")
    assert sorted(p.name for p in remove_dead_scratch(tmp_path)) == sorted([live.name, dead.name])
    assert foreign.exists()


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "medwave.cli", "batch", *args]


def test_cli_batch_denoise_sigkilled_from_outside_then_resumed(tmp_path: Path) -> None:
    """``medwave batch denoise --sequential`` SIGKILLed from outside at a seeded random moment, then ``--resume``.

    The kill lands wherever the process happens to be (reading, denoising, writing a NIfTI, writing a marker).
    The resumed batch must equal an uninterrupted reference run item for item (same voxels), with one summary row
    per item and no temporary file anywhere.
    """
    import signal
    import time

    import nibabel as nib
    import numpy as np

    from tests.reliability.conftest import blob_volume, save_nii

    src = tmp_path / "in"
    src.mkdir()
    n = 6
    for i in range(n):
        save_nii(src / f"v{i}.nii.gz", blob_volume((12, 12, 12), seed=i))
    env = dict(os.environ, OMP_NUM_THREADS="1", MEDWAVE_NO_PROGRESS="1")
    common = ["denoise", "--input-glob", str(src / "*.nii.gz"), "--sequential", "--quiet"]
    ref = subprocess.run(_cli(common + ["-o", str(tmp_path / "ref")]), env=env, capture_output=True, text=True,
                         timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "out"
    rng = random.Random(2026)
    kills = 0
    for attempt in range(2):  # up to two kills, each after a random number of finished items plus a random delay
        proc = subprocess.Popen(_cli(common + ["-o", str(out)] + (["--resume"] if attempt else [])), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = len(_markers(out)) + rng.randint(1, 2)
        deadline = time.monotonic() + 120
        while proc.poll() is None and len(_markers(out)) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
    assert kills >= 1, "the batch finished before any kill; the test proved nothing"
    final = subprocess.run(_cli(common + ["-o", str(out), "--resume"]), env=env, capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    for i in range(n):
        got = np.asarray(nib.load(str(out / f"v{i}" / "denoised.nii.gz")).dataobj)
        exp = np.asarray(nib.load(str(tmp_path / "ref" / f"v{i}" / "denoised.nii.gz")).dataobj)
        assert np.array_equal(got, exp), f"v{i} differs from the uninterrupted run"
        assert (out / f"v{i}" / MARKER).exists()
        assert not [p.name for p in (out / f"v{i}").iterdir() if p.name.startswith(".") and p.name not in (MARKER, OWNER_MARKER)]
    with open(out / "summary.csv", newline="") as fh:
        names = [r["name"] for r in csv.DictReader(fh)]
    assert sorted(names) == sorted(f"v{i}" for i in range(n)) and len(set(names)) == n
    assert json.loads((out / "failures.json").read_text()) == {}
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
