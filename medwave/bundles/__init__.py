"""MONAI bundles for medwave's shipped models.

Each sub-folder is a self-contained MONAI bundle that runs wherever it is copied:

* ``models/model.pt``: the shipped checkpoint (a link to the package's weights file in the source tree,
  a copy in a wheel or in a copied bundle), loaded with the network's ``from_checkpoint`` (``weights_only=True``);
* ``configs/inference.json``: a MONAI ``SupervisedEvaluator`` over a datalist (``datalist_file``, decathlon JSON,
  section ``datalist_section``) or every image in ``dataset_dir`` (default ``<bundle_root>/data``); its inferer calls
  the pipeline's front door and writes each case's outputs to ``output_dir/<case>/``; metric handlers where a
  metric applies (Dice for neurons with labels, folding for registration) save ``output_dir/metrics.csv``;
* ``configs/train.json``: the training command that made the shipped weights, as a config;
* ``configs/metadata.json`` and ``docs/README.md``.

Bundles: ``winet_registration`` (WiNet), ``waveunet_neurons`` (3D-WaveUNet), ``gem_gaze`` (GEM).

Run one from its folder (``bundle_root`` is ``.``) with MONAI's own runner, e.g.::

    cd "$(python -c 'import medwave.bundles as b; print(b.bundle_dir("waveunet_neurons"))')"
    python -m monai.bundle run --config_file configs/inference.json --dataset_dir /data/stacks --output_dir /tmp/out

``verify_metadata`` needs the schema named by the metadata's ``schema`` URL. With no internet, pass
``filepath=medwave.bundles.SCHEMA_FILE``: MONAI only downloads when that file does not exist, so the
local copy shipped here is used.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLES", "BUNDLE_ROOT", "SCHEMA_FILE", "bundle_dir", "config_file", "meta_file"]

BUNDLE_ROOT = Path(__file__).resolve().parent
BUNDLES = ("winet_registration", "waveunet_neurons", "gem_gaze")
#: Local stand-in for MONAI's metadata schema (offline ``verify_metadata``; see module docstring).
SCHEMA_FILE = BUNDLE_ROOT / "meta_schema_local.json"


def bundle_dir(name: str) -> Path:
    """The folder of bundle ``name`` (one of :data:`BUNDLES`).

    Raises:
        ValueError: Unknown bundle name.
    """
    if name not in BUNDLES:
        raise ValueError(f"unknown bundle {name!r}; medwave ships {', '.join(BUNDLES)}.")
    return BUNDLE_ROOT / name


def config_file(name: str) -> Path:
    """``configs/inference.json`` of bundle ``name``."""
    return bundle_dir(name) / "configs" / "inference.json"


def meta_file(name: str) -> Path:
    """``configs/metadata.json`` of bundle ``name``."""
    return bundle_dir(name) / "configs" / "metadata.json"
