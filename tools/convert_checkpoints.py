"""Convert the shipped weight files to the one checkpoint format ``{"config", "state_dict", "meta"}`` (run once).

Run from the repository root: ``python tools/convert_checkpoints.py``. Each file is read with
``torch.load(weights_only=True)`` (the old files held tensors and plain values only) and rewritten by
:func:`medwave.networks.checkpoint.convert_legacy`, without optimiser state; already converted files are left
as they are. Prints the sha256 of each result (for the weights READMEs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from medwave.networks.checkpoint import convert_legacy

ROOT = Path(__file__).resolve().parents[1] / "medwave"
FILES = ["registration/weights/winet_mni_small.pt", "neuron/weights/waveunet_synthetic.pt",
         "neuron/weights/monai_unet_baseline.pt", "gaze/weights/gem_synthetic.pt"]


def main() -> None:
    for rel in FILES:
        p = ROOT / rel
        ck = torch.load(str(p), map_location="cpu", weights_only=True)
        if not {"config", "state_dict", "meta"} <= set(ck):
            before = p.stat().st_size
            convert_legacy(p, p)
            print(f"{rel}: converted ({before} -> {p.stat().st_size} bytes)")
        else:
            print(f"{rel}: already in the one format")
        print(f"  sha256 {hashlib.sha256(p.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
