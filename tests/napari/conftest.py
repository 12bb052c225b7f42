"""napari test support: a real viewer (napari's ``make_napari_viewer`` fixture) under an X display.

napari registers its pytest plugin (``napari.utils._testsupport``, entry point ``pytest11``) when it is
installed, which provides ``make_napari_viewer``; pytest-qt provides ``qtbot``. Without an X display
Qt would abort the whole run, so every ``napari``-marked test is skipped with the reason instead; run
them as ``xvfb-run -a python -m pytest tests/napari`` (``make test`` does).

Screenshots go to a temporary folder, so the test suite leaves the repository as it found it; ``make
docs-images`` sets ``MEDWAVE_DOCS_IMAGES=docs/images`` to refresh the README's pictures on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

#: Where ``make docs-images`` writes the screenshots (the README shows them); tests alone write to a temporary folder.
DOCS_IMAGES_ENV = "MEDWAVE_DOCS_IMAGES"
_HAS_DISPLAY = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def pytest_collection_modifyitems(config, items):
    if _HAS_DISPLAY:
        return
    skip = pytest.mark.skip(
        reason="no X display (DISPLAY unset): napari needs one for OpenGL; run under `xvfb-run -a` as `make test` does"
    )
    for item in items:
        if item.get_closest_marker("napari") is not None:
            item.add_marker(skip)


@pytest.fixture
def viewer(make_napari_viewer):
    """A shown napari viewer (shown so that screenshots render the docked widgets)."""
    v = make_napari_viewer(show=True)
    v.window._qt_window.resize(1400, 900)
    return v


def wait_for_worker(qtbot, widget, timeout: int = 120_000):
    """Block until the widget's running thread_worker has finished (then let Qt deliver its signals)."""
    assert widget.worker is not None, f"widget did not start a job (status: {widget.status!r})"
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)
    if widget.last_error is not None:
        raise widget.last_error


def save_screenshot(viewer, name: str, folder: Path) -> Path:
    """Save the whole window (canvas + docked widgets) to ``folder/<name>.png`` and return the path.

    Also asserts that the canvas itself is not blank (an empty or unrendered canvas is one flat colour,
    while the window around it never is).
    """
    from skimage.io import imsave

    folder.mkdir(parents=True, exist_ok=True)
    canvas = np.asarray(viewer.screenshot(canvas_only=True, flash=False), dtype=np.float64)[..., :3]
    assert canvas.std() > 5.0, f"the canvas rendered blank for {name} (pixel std {canvas.std():.2f})"
    img = viewer.screenshot(canvas_only=False, flash=False)
    path = folder / f"{name}.png"
    tmp = path.with_name(f".{path.stem}.tmp.png")
    imsave(tmp, img, check_contrast=False)
    os.replace(tmp, path)
    return path


def assert_not_blank(path: Path, min_std: float = 12.0) -> None:
    """The screenshot shows something: its pixel values vary (a blank or black window does not)."""
    from skimage.io import imread

    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200, img.shape
    std = float(np.asarray(img[..., :3], dtype=np.float64).std())
    assert std > min_std, f"{path.name} looks blank (pixel std {std:.1f} <= {min_std})"


@pytest.fixture
def wait_worker(qtbot):
    """``wait_worker(widget)``: block until the widget's job is done; re-raise its error."""
    return lambda widget, timeout=120_000: wait_for_worker(qtbot, widget, timeout)


@pytest.fixture
def screenshot(tmp_path_factory):
    """``screenshot(viewer, name)``: save ``<name>.png`` (in a temporary folder, or in ``$MEDWAVE_DOCS_IMAGES``
    under ``make docs-images``), check it is not blank, return its path."""
    target = os.environ.get(DOCS_IMAGES_ENV)
    folder = Path(target).resolve() if target else tmp_path_factory.mktemp("screenshots")

    def _shot(viewer, name: str) -> Path:
        path = save_screenshot(viewer, name, folder)
        assert_not_blank(path)
        return path

    return _shot
