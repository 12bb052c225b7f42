"""The ``medwave`` command as a whole: help of every subcommand, one progress switch, a closed pipe, --version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import medwave
from medwave.cli import build_parser, main

ROOT = Path(medwave.__file__).resolve().parents[1]


def _subcommands() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(sub.choices)


def test_every_command_has_help_with_an_example_and_no_format_escapes() -> None:
    cmds = _subcommands()
    assert {"denoise", "info", "register", "segment-neurons", "gaze", "batch", "demo"} <= set(cmds)
    for name, parser in cmds.items():
        text = parser.format_help()
        assert "xample" in text, f"`medwave {name} --help` has no example"
        assert f"medwave {name}" in text.replace("medwave batch", "medwave batch"), name
        assert "%%" not in text and "%(" not in text, f"`medwave {name} --help` shows a format escape"


def test_one_progress_switch_on_every_command() -> None:
    for name, parser in _subcommands().items():
        opts = parser._option_string_actions
        for flag in ("--quiet", "--no-progress"):
            assert flag in opts, f"medwave {name} lacks {flag}"
            assert opts[flag].dest == "progress", f"medwave {name} {flag} does not set args.progress"


@pytest.mark.parametrize("flag", ["--quiet", "--no-progress", "-q", None])
def test_quiet_flags_and_environment_silence_the_bar(flag, tmp_path, monkeypatch, capsys, rng) -> None:
    """A 4D series shows a bar over its volumes; each switch (and MEDWAVE_NO_PROGRESS=1) turns it off."""
    p = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(rng.standard_normal((12, 12, 10, 3)).astype(np.float32), np.eye(4)), p)
    monkeypatch.delenv("MEDWAVE_NO_PROGRESS", raising=False)
    argv = ["denoise", str(p), "-o", str(tmp_path / "o.nii.gz"), "--overwrite"]
    if flag is None:
        monkeypatch.setenv("MEDWAVE_NO_PROGRESS", "1")
    else:
        argv.append(flag)
    assert main(argv) == 0
    assert "denoise:" not in capsys.readouterr().err  # tqdm's "denoise: 100%|..." line
    monkeypatch.setenv("MEDWAVE_NO_PROGRESS", "0")  # "0" means: show it
    assert main(argv[:5]) == 0
    assert "denoise:" in capsys.readouterr().err


def test_version_everywhere(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and medwave.__version__ in capsys.readouterr().out


def test_info_into_a_closed_pipe_ends_quietly(tmp_path) -> None:
    """``medwave info x | head -1``: no traceback, no 'internal error', the pipe's status (not 3)."""
    p = tmp_path / "t.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), p)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("MEDWAVE_DEBUG", None)
    cmd = [sys.executable, "-c", "import sys; from medwave.cli import main; sys.exit(main())", "info", *[str(p)] * 200]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert first.decode().strip() == str(p)
    assert "Traceback" not in err and "internal error" not in err and "Exception ignored" not in err, err
    assert rc == 141


@pytest.mark.parametrize("given", [None, "ACTIVE"])
def test_openmp_threads_sleep_while_waiting_unless_the_user_says_otherwise(given) -> None:
    """The command sets OMP_WAIT_POLICY=PASSIVE before torch loads (spinning threads cost 4x the CPU of a
    registration on a busy machine); a value the user set is kept. Checked in a fresh interpreter, as torch's
    OpenMP runtime reads it once, at load."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import os, sys, medwave.cli; assert 'torch' not in sys.modules, 'torch loaded before the policy'; "
            "import torch; print(os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (given or "PASSIVE")
