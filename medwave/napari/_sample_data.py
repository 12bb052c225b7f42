"""napari sample data: real images shipped inside installed packages, nothing downloaded.

* ``mni_pair``: nilearn's MNI152 2009 T1 template (2 mm) as the *moving* image and the template
  deformed by a smooth, known diffeomorphism as the *fixed* image, with 32 pseudo-anatomical labels
  each (for Dice), from :func:`medwave.registration.synthetic.make_pair`.
* ``neuron_stack``: a synthetic light-microscopy neuron stack (:mod:`medwave.neuron.synthetic`) with
  its ground-truth mask and SWC skeleton.
* ``chest_xray``: pydicom-data's real chest radiograph ``RG1_UNCR.dcm`` with a report sentence (in
  ``metadata['report_sentence']``) for the gaze widget.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "CHEST_REPORT_SENTENCE",
    "make_mni_pair",
    "make_neuron_stack",
    "load_chest_xray",
    "mni_pair",
    "neuron_stack",
    "chest_xray",
]

#: The report sentence that goes with the sample radiograph (a normal frontal chest film).
CHEST_REPORT_SENTENCE = "The heart size is normal and both lungs are clear without focal consolidation or effusion."


def make_mni_pair(*, seed: int = 0, amplitude: float = 3.0):
    """The MNI152 pair of :func:`medwave.registration.synthetic.make_pair` (atlas mode) as images.

    The moving image is nilearn's MNI152 2009 template (2 mm); the fixed image is the template deformed by
    a smooth random diffeomorphism (with mild intensity changes); both come with 32 pseudo-anatomical
    labels, and the true DDF (fixed grid, voxels, ``fixed(x) ~ moving(x + ddf(x))``) is known exactly.

    Returns:
        ``(fixed, moving, fixed_labels, moving_labels, true_ddf (3, X, Y, Z))`` as
        :class:`~medwave.io.Image` (arrays ``(X, Y, Z)``) and a numpy array.
    """
    from medwave.utils.nibabel_import import import_nibabel

    nib = import_nibabel()

    from medwave.io import Image
    from medwave.registration.synthetic import make_pair

    pair = make_pair(seed, mode="atlas", amplitude=amplitude)
    affine = np.asarray(pair["affine"], dtype=np.float64)

    def img(arr: np.ndarray) -> Image:
        hdr = nib.Nifti1Header()
        hdr.set_data_dtype(arr.dtype)
        hdr.set_xyzt_units("mm", "sec")
        hdr["descrip"] = b"medwave sample: MNI152 2009 (nilearn)"
        return Image(arr, affine=affine, meta={"header": hdr, "units": ("mm", "sec"), "format": "nifti"})

    ddf = np.asarray(pair["true_ddf"][0], dtype=np.float32)
    return img(pair["fixed"]), img(pair["moving"]), img(pair["fixed_labels"]), img(pair["moving_labels"]), ddf


def mni_pair() -> list[tuple[Any, dict, str]]:
    """napari sample: MNI152 fixed (green) and moving (magenta) images with their label maps."""
    from medwave.napari._layers import image_to_layer_data

    fixed, moving, flab, mlab, ddf = make_mni_pair()
    f = image_to_layer_data(fixed, name="MNI152 fixed", extra={"colormap": "green", "blending": "additive",
                                                              "contrast_limits": (0.0, 1.0)})
    m = image_to_layer_data(moving, name="MNI152 moving", extra={"colormap": "magenta", "blending": "additive",
                                                                "contrast_limits": (0.0, 1.0)})
    fl = image_to_layer_data(flab, name="MNI152 fixed labels", kind="labels", extra={"visible": False, "opacity": 0.5})
    ml = image_to_layer_data(mlab, name="MNI152 moving labels", kind="labels", extra={"visible": False, "opacity": 0.5})
    f[1]["metadata"]["true_ddf"] = ddf
    f[1]["metadata"]["description"] = (
        "MNI152 template deformed by a known smooth diffeomorphism (medwave.registration.synthetic.make_pair, "
        "atlas mode, seed 0); metadata['true_ddf'] is the exact field (3, X, Y, Z) in voxels."
    )
    return [f, m, fl, ml]


def make_neuron_stack(shape: tuple[int, int, int] = (48, 128, 128), *, seed: int = 0):
    """A synthetic light-microscopy neuron stack from :func:`medwave.neuron.synthetic.synthetic_neuron`.

    Returns:
        The :class:`~medwave.neuron.synthetic.SyntheticNeuron` (``stack`` uint16 ``(Z, Y, X)``, ``mask``,
        ground-truth ``swc`` in voxel units).
    """
    from medwave.neuron.synthetic import synthetic_neuron

    return synthetic_neuron(shape, seed=seed)


def neuron_stack() -> list[tuple[Any, dict, str]]:
    """napari sample: a synthetic neuron stack, its ground-truth mask and its ground-truth SWC skeleton."""
    from medwave.napari._swc import swc_to_layer_data

    s = make_neuron_stack()
    common = {"axis_labels": ("z", "y", "x")}
    hi = float(np.percentile(s.stack, 99.9))
    layers = [
        (s.stack, {"name": "neuron stack", "colormap": "gray", "contrast_limits": (float(s.stack.min()), hi),
                   "metadata": {"description": "synthetic neuron stack (Z, Y, X), medwave.neuron.synthetic seed 0"},
                   **common}, "image"),
        (s.mask.astype(np.uint8), {"name": "neuron ground truth", "opacity": 0.4, "visible": False, **common},
         "labels"),
    ]
    gt = swc_to_layer_data(s.swc, name="ground truth", coords_in_voxels=True, color="#00e5ff")
    for _, kw, _ in gt:
        kw["visible"] = False
    return layers + gt


def load_chest_xray() -> tuple[np.ndarray, dict[str, Any]]:
    """pydicom-data's chest radiograph via :func:`medwave.gaze.io.load_radiograph` (bright bone, [0, 1]).

    Returns:
        ``(image float32 (rows, cols), info)``; ``info`` has the source path, photometric interpretation
        and pixel spacing (mm; ``None`` when the file gives none, as this one does).
    """
    from pydicom.data import get_testdata_file

    from medwave.gaze.io import load_radiograph

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        raise FileNotFoundError("RG1_UNCR.dcm is not installed; install pydicom-data (pip install pydicom-data).")
    return load_radiograph(path, return_meta=True)


def chest_xray() -> list[tuple[Any, dict, str]]:
    """napari sample: a real chest radiograph (pydicom-data) with a report sentence in its metadata."""
    arr, info = load_chest_xray()
    spacing = info.get("pixel_spacing")
    lo, hi = (float(v) for v in np.percentile(arr, [0.5, 99.5]))
    kw = {
        "name": "chest x-ray",
        "colormap": "gray",
        "contrast_limits": (lo, hi if hi > lo else lo + 1.0),
        "metadata": {"report_sentence": CHEST_REPORT_SENTENCE, "dicom": info},
        "axis_labels": ("row", "col"),
    }
    if spacing:
        kw["scale"] = tuple(float(v) for v in spacing)
        kw["units"] = ("mm", "mm")
    return [(arr, kw, "image")]
