"""Medical image I/O that keeps every affine: NIfTI (nibabel) and more, one small image record."""

from medwave.io.checks import (
    check_finite_image,
    describe_shape,
    require_2d_or_3d,
    require_3d,
    require_min_size,
    require_not_constant,
    require_real,
    spatial_shape,
)
from medwave.io.image import Image, save_image, save_images
from medwave.io.convert import as_image, load_image
from medwave.io.prealign import affine_prealign, apply_world_transform
from medwave.io.resample import resample_array, resample_to_reference

__all__ = [
    "Image",
    "as_image",
    "load_image",
    "save_image",
    "save_images",
    "resample_to_reference",
    "affine_prealign",
    "apply_world_transform",
    "resample_array",
    "require_3d",
    "require_2d_or_3d",
    "require_min_size",
    "require_not_constant",
    "require_real",
    "check_finite_image",
    "spatial_shape",
    "describe_shape",
]
