"""Execute every notebooks/*.ipynb top to bottom (nbclient) and check that stored notebooks carry no outputs.

The kernel is ``python3`` resolved by jupyter_client from the environment running pytest: with ipykernel
installed in that environment its built-in ``python3`` kernelspec starts ``sys.executable`` (checked
below), so no kernelspec is installed anywhere. Each notebook runs in a fresh temporary directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 120


def test_notebooks_found():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_wavelets.ipynb", "02_registration.ipynb", "03_neurons.ipynb", "04_gaze.ipynb"} <= names


def test_kernel_is_this_python():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    exe = spec.argv[0]
    assert exe in ("python", sys.executable) or os.path.realpath(exe) == os.path.realpath(sys.executable), spec.argv


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
@pytest.mark.skipif(bool(os.environ.get("MEDWAVE_DOCS_SITE")),
                    reason="`make docs` executed every notebook in this run (mkdocs --strict, errors not allowed); "
                           "tests/docs checks their outputs")
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(cwd=str(tmp_path))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert not any(Path(NB_DIR).glob("*.nii*")), "a notebook wrote into the repository"
