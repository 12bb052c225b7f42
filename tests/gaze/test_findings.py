"""The image-grounded synthetic gaze set: anatomy, findings in the named zone, reading-shaped scanpaths, splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medwave.gaze import findings as F

SIZE = 64


@pytest.fixture(scope="module")
def ds():
    return F.make_finding_gaze(40, seed=3, image_size=SIZE, split="train")


def test_mask_library_splits_are_disjoint_and_lung_shaped():
    lib = F.lung_mask_library(SIZE)
    tr, te = set(lib.indices("train")), set(lib.indices("test"))
    assert tr and te and not tr & te and len(tr) + len(te) == len(lib.names)
    assert lib.source in ("torchxrayvision", "deformed")
    frac = lib.masks.reshape(len(lib.names), -1).mean(1)
    assert np.all((frac > 0.1) & (frac < 0.8))


def test_same_seed_same_cases_and_test_split_uses_held_out_anatomy(ds):
    again = F.make_finding_gaze(40, seed=3, image_size=SIZE, split="train")
    a, b = ds[5], again[5]
    assert a["sentence"] == b["sentence"]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["fixations"], b["fixations"])
    test = F.make_finding_gaze(40, seed=3, image_size=SIZE, split="test")
    lib = F.lung_mask_library(SIZE)
    assert {c.mask_index for c in test.cases} <= set(lib.indices("test"))
    assert {c.mask_index for c in ds.cases} <= set(lib.indices("train"))
    assert [c.sentence for c in test.cases] != [c.sentence for c in ds.cases]


@pytest.mark.slow
def test_the_named_finding_is_rendered_in_its_zone_and_brightens_the_image(ds):
    for i, case in enumerate(ds.cases):
        if case.target is None or case.target.kind not in ("nodule", "opacity"):
            continue
        rc = ds.render_case(i)
        fm = rc["finding_mask"]
        zone = rc["zones"][case.target.zone]
        assert fm.any()
        # the finding sits in the zone the sentence names (most of its mask inside it, dilated by 2 px)
        from scipy import ndimage as ndi

        assert (fm & ndi.binary_dilation(zone, iterations=2)).sum() >= 0.5 * fm.sum()
        plain = ds._warped(case.mask_index)
        assert rc["image"][fm].mean() > plain[fm].mean() + 0.02  # rendered as added density


@pytest.mark.slow
def test_items_and_scanpaths_look_at_the_finding(ds):
    near = []
    for i, case in enumerate(ds.cases):
        it = ds[i]
        assert tuple(it["image"].shape) == (1, SIZE, SIZE) and it["points"].shape == (8, 2)
        assert len(it["fixations"]) == len(it["durations"]) >= 8
        assert float(it["image"].min()) >= 0 and float(it["image"].max()) <= 1
        fm = it["finding_mask"].numpy()
        if case.target is None:
            assert it["kind"] == "normal" and fm.sum() > 0.1 * fm.size
            continue
        if not fm.any():  # the view moved the finding out of the frame
            continue
        from scipy import ndimage as ndi

        d = ndi.distance_transform_edt(~fm)
        fx = it["fixations"].numpy()
        cols = np.clip(np.rint(fx[:, 0]).astype(int), 0, SIZE - 1)
        rows = np.clip(np.rint(fx[:, 1]).astype(int), 0, SIZE - 1)
        near.append(np.mean(d[rows, cols] <= 3.0))
    # most fixations of a finding sentence are on (or within 3 px of) the finding
    assert np.mean(near) > 0.6


@pytest.mark.slow
def test_normal_sentences_send_the_gaze_over_both_lungs():
    ds = F.make_finding_gaze(30, seed=1, image_size=SIZE, p_normal=1.0)
    for i in range(5):
        fix, _ = ds.scanpath(i)
        rc = ds.render_case(i)
        z = rc["zones"]
        right = z["right_upper"] | z["right_middle"] | z["right_lower"]
        left = z["left_upper"] | z["left_middle"] | z["left_lower"]
        r = np.clip(np.rint(fix).astype(int), 0, SIZE - 1)
        assert right[r[:, 1], r[:, 0]].sum() >= 3 and left[r[:, 1], r[:, 0]].sum() >= 3


@pytest.mark.slow
def test_readers_differ_and_distractors_are_unmentioned(ds):
    amb = [c for c in ds.cases if c.target is not None and any(d.kind == c.target.kind for d in c.distractors)]
    assert amb, "expected two-candidate cases"
    i = ds.cases.index(amb[0])
    a, b = ds.scanpath(i, 0)[0], ds.scanpath(i, 1)[0]
    assert a.shape != b.shape or not np.allclose(a, b)
    it = ds[i]
    assert it["ambiguous"] and it["distractor_mask"].any()
    assert not (it["finding_mask"] & it["distractor_mask"]).any()


@pytest.mark.slow
def test_compare_excursion_goes_to_the_other_side():
    rng = np.random.default_rng(0)
    ds = F.make_finding_gaze(30, seed=2, image_size=SIZE, p_normal=0.0, p_distractor=0.0)
    i = next(j for j, c in enumerate(ds.cases) if c.target.kind == "nodule")
    rc = ds.render_case(i)
    side = ds.cases[i].target.zone.split("_")[0]
    other = "left" if side == "right" else "right"
    other_mask = rc["zones"][f"{other}_upper"] | rc["zones"][f"{other}_middle"] | rc["zones"][f"{other}_lower"]
    from scipy import ndimage as ndi

    near_other = ndi.binary_dilation(other_mask, iterations=3)
    found = False
    for _ in range(20):
        fix, dur = F.read_case(rng, rc["finding_mask"], rc["zones"], ds.cases[i].target, p_compare=1.0)
        r = np.clip(np.rint(fix).astype(int), 0, SIZE - 1)
        on_other = near_other[r[:, 1], r[:, 0]]
        assert 1 <= on_other.sum() <= 3 and not on_other[-1]  # an excursion, then back to the finding
        found = True
    assert found


def test_vocabulary_is_covered_by_the_text_encoder():
    from medwave.networks.blocks.text import default_vocabulary

    missing = set(F.finding_vocabulary()) - set(default_vocabulary())
    assert not missing, f"add {sorted(missing)} to medwave.networks.blocks.text.REPORT_WORDS"


def test_bad_options():
    with pytest.raises(ValueError, match="split"):
        F.make_finding_gaze(2, split="val")
    with pytest.raises(ValueError, match="n must"):
        F.make_finding_gaze(0)
