"""Make docs/images/denoise.png and docs/images/batch.png (the pictures the denoise and batch pages start from).

Run: OMP_NUM_THREADS=1 python tools/make_doc_images.py   (about half a minute; the PNGs are committed)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def main() -> None:
    from nilearn.datasets import load_mni152_template

    from medwave.transforms import denoise_volume

    tpl = load_mni152_template(resolution=2)
    vol = np.asarray(tpl.get_fdata(), np.float32)
    vol /= vol.max()
    rng = np.random.default_rng(0)
    noisy = (vol + rng.normal(0, 0.08, vol.shape)).astype(np.float32)
    den = np.asarray(denoise_volume(noisy, wavelet="db2", levels=3))
    psnr = lambda a: 10 * np.log10(1.0 / np.mean((a - vol) ** 2))  # noqa: E731
    z = vol.shape[2] // 2
    fig, ax = plt.subplots(1, 3, figsize=(10, 3.6))
    for a, im, t in zip(ax, (vol, noisy, den), ("MNI152 T1 (clean)", f"noisy, PSNR {psnr(noisy):.1f} dB",
                                                 f"denoised (db2, BayesShrink), PSNR {psnr(den):.1f} dB")):
        a.imshow(np.rot90(im[:, :, z]), cmap="gray", vmin=0, vmax=1)
        a.set_title(t, fontsize=9)
        a.axis("off")
    fig.tight_layout()
    fig.savefig(OUT / "denoise.png", dpi=90)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "scans").mkdir()
        for i in range(4):
            n = (vol + rng.normal(0, 0.04 * (i + 1), vol.shape)).astype(np.float32)
            nib.save(nib.Nifti1Image(n, tpl.affine), d / "scans" / f"case_{i:03d}.nii.gz")
        subprocess.run([sys.executable, "-m", "medwave.cli", "batch", "denoise", "-i", str(d / "scans"), "-o",
                        str(d / "denoised"), "--quiet", "--sequential"], check=True)
        fig, ax = plt.subplots(2, 4, figsize=(12, 6.2))
        for i in range(4):
            for row, folder in enumerate(("scans", "denoised")):
                im = np.asarray(nib.load(d / folder / f"case_{i:03d}.nii.gz").dataobj)
                ax[row, i].imshow(np.rot90(im[:, :, z]), cmap="gray", vmin=0, vmax=1)
                ax[row, i].set_title(f"{folder}/case_{i:03d}.nii.gz", fontsize=9)
                ax[row, i].axis("off")
        fig.suptitle("medwave batch denoise -i scans -o denoised: same case names in and out", fontsize=11)
        fig.tight_layout()
        fig.savefig(OUT / "batch.png", dpi=80)


if __name__ == "__main__":
    main()
