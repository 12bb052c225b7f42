"""The npe2 manifest is valid, importable and discoverable through the installed entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = Path(__file__).resolve().parents[2] / "medwave" / "napari" / "napari.yaml"


def test_npe2_validate_passes_with_imports():
    npe2 = shutil.which("npe2", path=str(Path(sys.executable).parent)) or shutil.which("npe2")
    if npe2 is None:
        pytest.skip("npe2 command not installed (pip install npe2)")
    res = subprocess.run([npe2, "validate", "medwave", "--imports"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in res.stdout


def test_manifest_declares_every_contribution():
    from npe2 import PluginManifest

    mf = PluginManifest.from_file(MANIFEST)
    assert mf.name == "medwave"
    readers = {r.command for r in mf.contributions.readers}
    assert "medwave.read_nifti" in readers
    writers = {(w.command, tuple(w.layer_types)) for w in mf.contributions.writers}
    assert ("medwave.write_nifti_image", ("image",)) in writers
    assert ("medwave.write_nifti_labels", ("labels",)) in writers
    samples = {s.key for s in mf.contributions.sample_data}
    assert {"mni_pair", "neuron_stack", "chest_xray"} <= samples
    widgets = {w.display_name for w in mf.contributions.widgets}
    assert "Wavelet decomposition" in widgets


def test_entry_point_finds_the_manifest():
    from npe2 import PluginManager

    pm = PluginManager()
    pm.discover()
    assert "medwave" in pm._manifests, "the napari.manifest entry point of medwave is not installed (pip install -e .)"


def test_import_medwave_does_not_import_qt_or_napari():
    code = "import sys, medwave, medwave.napari; bad=[m for m in ('napari','qtpy','PyQt5') if m in sys.modules]; print(bad)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]", res.stdout
