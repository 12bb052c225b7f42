# medwave: `make demo` and `make test` work on a fresh machine (they create .venv and install).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# 2 CPU threads unless told otherwise (the reference machine has 2 cores).
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2
PYTEST_ARGS ?=

.PHONY: install demo docs test test-slow bench docs-images sysdeps clean help

help:
	@echo "make demo       create .venv, install, run the main job on the shipped sample data"
	@echo "make docs       build the documentation site into site/ (notebooks executed, warnings are errors)"
	@echo "make test       create .venv, install, build the docs, run the test suite (slow tests excluded)"
	@echo "make test-slow  the slow tests (full sweeps, training, large stacks)"
	@echo "make bench      run the benchmarks (results go to docs/benchmarks.md by hand)"
	@echo "make docs-images  refresh the napari screenshots in docs/images/ (the tests alone write them to a temp folder)"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The pinned CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[all,dev]"
	# torchxrayvision only for the 517 lung masks its wheel ships (the gaze findings set reads them without importing
	# it); --no-deps: its torchvision does not import beside the pinned CPU torch
	$(PY) -m pip install --quiet --no-deps "torchxrayvision>=1.2"
	# compile the numba kernels once (wavelets, scaling and squaring); numba caches them on disk
	$(PY) -c "from medwave.warmup import warm; print(f'compiled kernels ready ({warm():.1f} s)')"
	touch $@

install: $(VENV)/.installed

sysdeps:
	bash .ci/sysdeps.sh

demo: install
	$(VENV)/bin/medwave demo -o demo_output

# napari tests need an X display: without one, run under Xvfb (Mesa software OpenGL, from `make sysdeps`).
XRUN := $(if $(DISPLAY),,xvfb-run -a -s "-screen 0 1600x1200x24")

# The site goes to site/ (git-ignored); the notebooks run at build time with progress bars off (static pages).
docs: install
	NO_MKDOCS_2_WARNING=1 MEDWAVE_NO_PROGRESS=1 $(PY) -m mkdocs build --strict --quiet

# tests/docs opens the site built by `docs` in headless Chromium (and then skips re-running the notebooks).
test: install sysdeps docs
	MEDWAVE_DOCS_SITE=$(CURDIR)/site $(XRUN) $(PY) -m pytest -m "not slow" -n 2 --timeout 900 $(PYTEST_ARGS)

test-slow: install sysdeps
	$(XRUN) $(PY) -m pytest -m "slow" --timeout 3600 $(PYTEST_ARGS)

# The README's napari screenshots: the widget tests take them; only this target writes them into docs/images/.
docs-images: install sysdeps
	MEDWAVE_DOCS_IMAGES=$(CURDIR)/docs/images $(XRUN) $(PY) -m pytest tests/napari -p no:cacheprovider -k "widget" $(PYTEST_ARGS)

# Every benchmark runs even when an earlier one misses a target; the exit code says whether any did.
# ANTs SyN, an anchor of benchmarks/bench_registration.py, in a venv of its own (antspyx pins numpy and scipy).
.venv-ants/.installed:
	test -x .venv-ants/bin/python || python3 -m venv .venv-ants
	.venv-ants/bin/python -m pip install --quiet "antspyx>=0.6"
	touch $@

# The other anchors of bench_registration.py, in medwave's venv (not medwave dependencies). convexadam --no-deps: its
# requirements are already there, and a plain install could pull another torch.
$(VENV)/.bench-anchors: $(VENV)/.installed
	$(PY) -m pip install --quiet "picsl-greedy>=1.4" "itk-elastix>=0.20" "SimpleITK>=2.3" "scikit-learn>=1.3"
	$(PY) -m pip install --quiet --no-deps "convexadam>=0.2"
	touch $@

bench: install $(VENV)/.bench-anchors .venv-ants/.installed
	@rc=0; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || rc=1; done; exit $$rc

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache demo_output site
