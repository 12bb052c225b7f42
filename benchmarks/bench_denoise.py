"""Benchmark: WaveletDenoise vs skimage.restoration.denoise_wavelet on a 160x192x224 volume.

The volume is the real MNI152 2009 T1 template (nilearn, 2 mm) upsampled to 160x192x224, scaled to
[0, 1], plus Gaussian noise (sigma 0.05, seeded). Both run in this process, interleaved round by
round (so load on the machine hits them alike), float32 in and out, ``channel_axis=None`` (3D):

* medwave: ``medwave.transforms.WaveletDenoise`` on a ``(1, 160, 192, 224)`` MetaTensor, torch on
  ``--threads`` threads (default 2);
* scikit-image: ``denoise_wavelet(noisy, channel_axis=None, ...)`` with the same wavelet, method, mode.

Target (issue #3): the default configuration (db1, BayesShrink, soft) >= 5x faster at equal PSNR
(within 0.2 dB). The other rows are informational. Exit code 1 when the target is missed.

Run: ``.venv/bin/python benchmarks/bench_denoise.py [--repeats 7] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

SHAPE = (160, 192, 224)
CONFIGS = [  # (wavelet, method, mode, is_target)
    ("db1", "BayesShrink", "soft", True),
    ("db1", "VisuShrink", "soft", False),
    ("db2", "BayesShrink", "soft", False),
    ("sym4", "BayesShrink", "hard", False),
]


def make_volume(seed: int = 0, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    from nilearn.datasets import load_mni152_template
    from scipy import ndimage

    t = np.asarray(load_mni152_template(resolution=2).get_fdata(), dtype=np.float32)
    zoom = [s / n for s, n in zip(SHAPE, t.shape)]
    clean = ndimage.zoom(t, zoom, order=1).astype(np.float32)[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    rng = np.random.default_rng(seed)
    noisy = (clean + noise * rng.standard_normal(clean.shape)).astype(np.float32)
    return clean, noisy


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((x.astype(np.float64) - ref) ** 2)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from monai.data import MetaTensor
    from skimage.restoration import denoise_wavelet

    from medwave.transforms import WaveletDenoise

    clean, noisy = make_volume()
    img = MetaTensor(torch.from_numpy(noisy[None].copy()), affine=torch.diag(torch.tensor([1.0, 1.0, 1.0, 1.0])))
    print(f"volume {'x'.join(map(str, SHAPE))} float32 (upsampled MNI152 T1 + N(0, 0.05)), input PSNR {psnr(noisy, clean):.2f} dB")
    print(f"torch threads {args.threads}, repeats {args.repeats} (best and median of interleaved rounds)\n")
    header = f"{'wavelet':8s} {'method':12s} {'mode':5s} | {'skimage ms':>11s} {'medwave ms':>11s} | {'speed-up':>8s} {'(median)':>8s} | {'PSNR sk':>8s} {'PSNR mw':>8s} {'dPSNR':>6s} | target"
    print(header)
    print("-" * len(header))
    ok = True
    for wavelet, method, mode, is_target in CONFIGS:
        t = WaveletDenoise(wavelet=wavelet, method=method, mode=mode)

        def run_sk():
            return denoise_wavelet(noisy, wavelet=wavelet, method=method, mode=mode, channel_axis=None, rescale_sigma=True)

        def run_mw():
            return t(img)

        ref, out = run_sk(), run_mw()  # warm-up, and the results compared
        times = {"sk": [], "mw": []}
        for _ in range(args.repeats):
            for key, fn in (("sk", run_sk), ("mw", run_mw)):
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1e3)
        sk_best, mw_best = min(times["sk"]), min(times["mw"])
        sk_med, mw_med = float(np.median(times["sk"])), float(np.median(times["mw"]))
        p_sk, p_mw = psnr(ref, clean), psnr(out[0].numpy(), clean)
        speed, speed_med = sk_best / mw_best, sk_med / mw_med
        equal = abs(p_sk - p_mw) <= 0.2
        verdict = "-"
        if is_target:
            passed = speed >= 5.0 and equal
            ok = ok and passed
            verdict = ">=5x: " + ("PASS" if passed else "MISSED")
        print(
            f"{wavelet:8s} {method:12s} {mode:5s} | {sk_best:11.1f} {mw_best:11.1f} | {speed:7.2f}x {speed_med:7.2f}x | "
            f"{p_sk:8.3f} {p_mw:8.3f} {p_mw - p_sk:+6.3f} | {verdict}"
        )
    print("\nmax |medwave - skimage| is float32 round-off (the algorithms are the same); see tests/transforms/test_denoise.py")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
