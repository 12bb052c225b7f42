"""nibabel is imported without pydicom (0.8 s of every NIfTI command's start-up); pydicom still works afterwards."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np


def test_reading_a_nifti_does_not_import_pydicom_and_pydicom_still_imports(tmp_path) -> None:
    path = tmp_path / "t1.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.diag([2.0, 2.0, 2.0, 1.0])), path)
    code = (
        "import sys\n"
        "from medwave.io import load_image\n"
        f"img = load_image({str(path)!r})\n"
        "assert img.array.shape == (2, 3, 4) and float(img.array.sum()) == 276.0\n"
        "assert 'nibabel' in sys.modules and 'pydicom' not in sys.modules, sorted(sys.modules)\n"
        "import pydicom\n"
        "assert pydicom.Dataset is not None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_dicom_header_extension_is_kept_as_bytes(tmp_path) -> None:
    """Without pydicom at nibabel's import, a NIfTI DICOM extension (code 2) is a plain extension: its bytes survive
    a read and a write by medwave."""
    raw = b"not parsed: kept as it is\x00\x01"
    img = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(2, raw))
    src, dst = tmp_path / "in.nii", tmp_path / "out.nii"
    nib.save(img, src)
    code = (
        "from medwave.io import load_image, save_image\n"
        f"save_image(load_image({str(src)!r}), {str(dst)!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert [e.get_code() for e in nib.load(dst).header.extensions] == [2]
    assert raw in dst.read_bytes()  # (this process's nibabel has pydicom and would parse the content)
