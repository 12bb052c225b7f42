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


def test_hard_and_multimodal_generators_are_seeded_and_differ_from_make_pair() -> None:
    from medwave.registration.synthetic import SEEDS, make_pair, make_pair_hard, make_pair_multimodal, mni_atlas, t2_like

    a, b = make_pair_hard(1), make_pair_hard(1)
    assert np.array_equal(a["fixed"], b["fixed"]) and np.array_equal(a["moving_labels"], b["moving_labels"])
    assert a["fixed"].shape == (99, 117, 95) and len(np.unique(a["fixed_labels"])) == 33
    plain = make_pair(1)
    assert not np.allclose(a["fixed"], plain["fixed"])
    # larger deformations: the labels overlap less before registration than make_pair's do
    def overlap(p):
        return np.mean((p["fixed_labels"] == p["moving_labels"])[p["fixed_labels"] > 0])
    assert overlap(a) < overlap(plain)
    # T2-like: CSF brighter than GM brighter than WM (T1's order reversed)
    atlas, t2 = mni_atlas(), t2_like()
    wm = (atlas["wm"] > 0.9) & (atlas["gm"] < 0.1)
    gm = (atlas["gm"] > 0.9) & (atlas["wm"] < 0.1)
    assert t2[gm].mean() > t2[wm].mean() and atlas["image"][gm].mean() < atlas["image"][wm].mean()
    mm = make_pair_multimodal(2)
    assert np.corrcoef(mm["fixed"][gm | wm], mm["moving"][gm | wm])[0, 1] < 0  # contrast reversed
    # no tuning, training or benchmark seed is shared between roles
    groups = [set(v) for v in SEEDS.values()]
    assert sum(len(g) for g in groups) == len(set().union(*groups))
