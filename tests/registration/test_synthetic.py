"""Synthetic MNI152 data: labels, determinism, atlas mode with a known answer."""

from __future__ import annotations

import numpy as np
import torch

from medwave.networks.blocks.fields import warp
from medwave.registration.metrics import dice_per_label
from medwave.registration.synthetic import N_REGIONS, make_pair, make_subject, mni_atlas


def test_atlas_has_32_labels_on_the_mni_grid() -> None:
    a = mni_atlas()
    assert a["image"].shape == (99, 117, 95) and a["labels"].shape == (99, 117, 95)
    labels = np.unique(a["labels"])
    assert list(labels) == list(range(2 * N_REGIONS + 1))
    assert np.allclose(np.diag(a["affine"])[:3], 2.0)
    # GM labels sit where the GM map dominates
    gm = (a["labels"] >= 1) & (a["labels"] <= N_REGIONS)
    assert (a["gm"][gm] >= a["wm"][gm]).all()
    assert 0.0 <= a["image"].min() and a["image"].max() <= 1.0


def test_pairs_are_deterministic_and_differ_by_seed() -> None:
    a, b, c = make_pair(11), make_pair(11), make_pair(12)
    assert np.array_equal(a["fixed"], b["fixed"]) and np.array_equal(a["moving_labels"], b["moving_labels"])
    assert not np.array_equal(a["fixed"], c["fixed"])
    d = np.mean(list(dice_per_label(a["moving_labels"], a["fixed_labels"]).values()))
    assert 0.4 < d < 0.95  # deformed, but still overlapping
    s1, s2 = make_subject(4), make_subject(4)
    assert np.array_equal(s1["image"], s2["image"])


def test_atlas_mode_true_ddf_maps_moving_to_fixed() -> None:
    p = make_pair(3, mode="atlas", intensity=0.0)
    moving = torch.as_tensor(p["moving"])[None, None]
    warped = warp(moving, p["true_ddf"])[0, 0].numpy()
    assert np.allclose(warped, p["fixed"], atol=1e-5)
    assert p["true_ddf"].abs().max() > 1.0
