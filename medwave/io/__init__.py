"""Medical image I/O that keeps every affine: NIfTI (nibabel) and more, one small image record."""

from medwave.io.image import Image, load_image, save_image

__all__ = ["Image", "load_image", "save_image"]
