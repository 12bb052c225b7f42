"""MONAI bundles for medwave's shipped models.

Each sub-folder is a MONAI bundle (``configs/metadata.json`` + ``configs/inference.json`` +
``docs/README.md``) that builds the medwave network through ``_target_`` and loads the weights that ship
inside the package (no copy of the ``.pt`` files, no download):

* ``winet_registration``: WiNet deformable registration (``medwave/registration/weights/winet_mni_small.pt``);
* ``waveunet_neurons``: 3D-WaveUNet neuron segmentation (``medwave/neuron/weights/waveunet_synthetic.pt``);
* ``gem_gaze``: GEM report-conditioned gaze estimation (``medwave/gaze/weights/gem_synthetic.pt``).

Run one with MONAI's own runner, e.g.::

    python -m monai.bundle run --config_file "$(python -c 'import medwave.bundles as b; print(b.config_file("waveunet_neurons"))')" \
        --meta_file "$(python -c 'import medwave.bundles as b; print(b.meta_file("waveunet_neurons"))')" \
        --input_file stack.nii.gz --output_dir out

``verify_metadata`` needs the schema named by the metadata's ``schema`` URL. With no internet, pass
``filepath=medwave.bundles.SCHEMA_FILE``: MONAI only downloads when that file does not exist, so the
local copy shipped here is used (see ``docs`` in each bundle).
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
