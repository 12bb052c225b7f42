"""The documentation site: built with warnings as errors, every page opened in headless Chromium; the executed
notebooks' figures render (no broken image) and no output cell is empty.

The site comes from ``MEDWAVE_DOCS_SITE`` (``make test`` builds it with ``make docs`` first) or is built here
into a temporary folder (``mkdocs build --strict``, the notebooks executed), so the tree stays clean.
Chromium is the system one (Debian ``chromium`` + ``chromium-driver``, installed by ``.ci/sysdeps.sh``),
driven by selenium without any browser download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = ["index.html", "wavelets.html", "denoise.html", "registration.html", "neurons.html", "gaze.html",
         "batch.html", "napari.html", "bundles.html", "api.html", "benchmarks.html"]
NOTEBOOKS = ["01_wavelets", "02_registration", "03_neurons", "04_gaze", "05_batch"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def site() -> Path:
    given = os.environ.get("MEDWAVE_DOCS_SITE")
    if given:
        path = Path(given)
        assert (path / "index.html").is_file(), f"MEDWAVE_DOCS_SITE={given} holds no built site; run `make docs`"
        yield path
        return
    pytest.importorskip("mkdocs")
    with tempfile.TemporaryDirectory(prefix="medwave-site-") as d:
        env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "NO_MKDOCS_2_WARNING": "1",
               "MEDWAVE_NO_PROGRESS": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        p = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"),
                            "-d", d], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
        assert p.returncode == 0, p.stderr[-4000:]
        yield Path(d)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_exe = shutil.which("chromedriver")
    if not (chrome and driver_exe):
        pytest.skip("system chromium / chromedriver missing; `make sysdeps` (.ci/sysdeps.sh) installs them")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                                  "--window-size=1280,1000"]:
        opts.add_argument(flag)
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=driver_exe))
    yield drv
    drv.quit()


def _open(browser, path: Path) -> None:
    browser.get(path.as_uri())
    browser.execute_script("return document.readyState")  # waits for the load
    for img in browser.find_elements("tag name", "img"):  # lazy images: bring each into view
        browser.execute_script("arguments[0].scrollIntoView(); arguments[0].loading = 'eager';", img)


def _broken_images(browser) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => (i.currentSrc || i.src).slice(0, 120));")


@pytest.mark.parametrize("page", PAGES)
def test_page_images_render(site, browser, page):
    _open(browser, site / page)
    assert browser.title, page
    assert not _broken_images(browser), f"{page}: broken images {_broken_images(browser)}"
    if page != "index.html" and page not in ("api.html", "benchmarks.html", "bundles.html"):
        n = browser.execute_script("return document.querySelectorAll('article img').length")
        assert n >= 1, f"{page} starts from a picture of its result"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_figures_and_outputs(site, browser, name):
    _open(browser, site / "notebooks" / f"{name}.html")
    figures = browser.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output img, .output_png img, "
        ".jp-RenderedImage img')).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);")
    assert figures, f"{name}: no executed figure in the page"
    assert all(c and w > 0 and h > 0 for c, w, h in figures), f"{name}: broken figures {figures}"
    assert not _broken_images(browser)
    # every code cell that produced output has non-empty output; no error output anywhere
    empty = browser.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
        ".filter(o => o.innerText.trim() === '' && o.querySelectorAll('img, svg, table, canvas').length === 0).length;")
    assert empty == 0, f"{name}: {empty} empty output cells"
    errors = browser.execute_script("return document.querySelectorAll('.jp-RenderedText[data-mime-type=\"application/vnd.jupyter.stderr\"] .ansi-red-fg, .jp-OutputArea-output.jp-OutputArea-executeResult .ename').length;")
    assert errors == 0
    text = browser.execute_script("return document.body.innerText")
    assert "IProgress not found" not in text and "Traceback" not in text
