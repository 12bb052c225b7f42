"""napari reader of a registration's transform folder (no Qt): the displacement and its Jacobian determinant.

On the fixed grid: the displacement as a Vectors layer (one arrow every few voxels, in voxels of the fixed
grid, so the layer's scale/affine puts them in millimetres) and the Jacobian determinant as an image. The
widget that applies a folder to a layer is :mod:`medwave.napari._apply_widget`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from medwave.napari._layers import image_layer_kwargs, image_to_layer_data

__all__ = ["get_transform_reader", "read_transform_folder", "is_transform_folder", "TRANSFORM_KEY"]

PathOrPaths = Union[str, Sequence[str]]
#: Metadata key of a layer made from a transform folder (the folder's path).
TRANSFORM_KEY = "medwave_transform"


def is_transform_folder(path: Union[str, Path]) -> bool:
    """A folder written by ``medwave register`` (``transform.json``, or an older ``ddf.nii.gz``)."""
    from medwave.registration.transform import LEGACY_DDF, MANIFEST

    p = Path(path)
    return p.is_dir() and ((p / MANIFEST).exists() or (p / LEGACY_DDF).exists())


def get_transform_reader(path: PathOrPaths) -> Optional[Callable[[PathOrPaths], list]]:
    """napari reader hook: a reader when ``path`` is one transform folder, else None."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if len(paths) != 1 or not is_transform_folder(paths[0]):
        return None
    return read_transform_folder


def read_transform_folder(path: PathOrPaths, *, step: int = 4) -> list:
    """The displacement (Vectors, every ``step`` voxels) and the Jacobian determinant (Image) of a transform folder."""
    import torch

    from medwave.io import Image
    from medwave.napari._registration import displacement_vectors
    from medwave.networks.blocks.fields import jacobian_determinant
    from medwave.registration.transform import Transform

    p = Path(path if isinstance(path, (str, Path)) else path[0])
    tx = Transform.load(p)
    jac_file = p / "jacdet.nii.gz"
    if jac_file.exists():
        from medwave.io import load_image

        jac = np.asarray(load_image(jac_file).array, np.float32)
    else:
        u = torch.as_tensor(np.moveaxis(tx.ddf, -1, 0))[None]
        jac = jacobian_determinant(u)[0].numpy().astype(np.float32)
    meta = {TRANSFORM_KEY: str(p)}
    data, kw, _ = image_to_layer_data(Image(jac, affine=tx.fixed_affine), name=f"{p.name} Jacobian determinant")
    kw.update(colormap="bwr", contrast_limits=(0.0, 2.0), opacity=0.6)
    kw["metadata"][TRANSFORM_KEY] = str(p)
    vec, length = displacement_vectors(tx.ddf, step=step)
    vkw = {k: v for k, v in image_layer_kwargs(tx.fixed_affine).items() if k in ("scale", "translate", "affine")}
    vkw.update(name=f"{p.name} displacement", features={"length": length}, edge_color="length",
               edge_colormap="turbo", edge_width=0.3, vector_style="arrow", metadata=meta)
    return [(data, kw, "image"), (vec, vkw, "vectors")]
