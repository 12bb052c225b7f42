"""Import nibabel without pydicom.

nibabel's ``nifti1`` module imports pydicom at load when it is installed (for the rare NIfTI header extension that
holds a DICOM dataset), and pydicom pulls requests, urllib3 and its pixel decoders: 0.8 s of a 2 s start-up on this
machine's class of CPU, paid by every command that reads a NIfTI file. :func:`import_nibabel` imports nibabel with
pydicom hidden, so that extension keeps its raw bytes (read and written back unchanged); pydicom itself still
imports normally afterwards (MONAI's and medwave's DICOM readers use it).
"""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["import_nibabel"]


def import_nibabel() -> ModuleType:
    """The ``nibabel`` module, imported (once) without importing pydicom."""
    module = sys.modules.get("nibabel")
    if module is not None:
        return module
    hide = "pydicom" not in sys.modules
    if hide:
        sys.modules["pydicom"] = None  # type: ignore[assignment]  # `import pydicom` raises ImportError meanwhile
    try:
        import nibabel
    finally:
        if hide and sys.modules.get("pydicom", ...) is None:
            del sys.modules["pydicom"]
    return nibabel
