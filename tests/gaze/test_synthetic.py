"""Synthetic report-conditioned gaze set: real radiograph, region-bound scanpaths, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medwave.gaze import synthetic as S
from medwave.gaze.io import load_gaze_datalist, read_gaze_csv


def test_lung_regions_on_the_real_radiograph():
    img = S.sample_radiograph(256)
    assert img.shape == (256, 256) and 0.0 <= img.min() and img.max() <= 1.0
    reg = S.lung_regions(img)
    assert set(reg) == {*S.REGION_PHRASES, "cardiac", "lungs"}
    for k in S.REGION_PHRASES:
        assert reg[k].sum() > 500, k
        assert not (reg[k] & reg["cardiac"]).any()
    # patient's right lung on the image's left; upper above lower; the lungs are darker than the heart
    cx = lambda m: np.nonzero(m)[1].mean()  # noqa: E731
    cy = lambda m: np.nonzero(m)[0].mean()  # noqa: E731
    assert cx(reg["right_middle"]) < 128 < cx(reg["left_middle"])
    assert cy(reg["right_upper"]) < cy(reg["right_middle"]) < cy(reg["right_lower"])
    assert img[reg["lungs"]].mean() < img[reg["cardiac"]].mean()


def test_same_seed_same_data_and_text_names_region():
    a = S.make_synthetic_gaze(20, seed=3, image_size=64)
    b = S.make_synthetic_gaze(20, seed=3, image_size=64)
    c = S.make_synthetic_gaze(20, seed=4, image_size=64)
    for i in range(20):
        assert a[i]["sentence"] == b[i]["sentence"]
        assert torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["points"], b[i]["points"])
    assert [a[i]["sentence"] for i in range(20)] != [c[i]["sentence"] for i in range(20)]
    for i in range(20):
        s, r = a[i]["sentence"].lower(), a[i]["region"]
        if r in S.REGION_PHRASES:
            assert any(p in s for p in S.REGION_PHRASES[r])
        assert a[i]["points"].shape == (8, 2)


def test_scanpaths_stay_in_their_region():
    ds = S.make_synthetic_gaze(60, seed=0, image_size=256, base_size=256, augment=False)
    reg = S.lung_regions(S.sample_radiograph(256))
    inside = []
    for rec in ds.records:
        m = reg[rec["region"]]
        pts = np.rint(rec["fixations"]).astype(int)
        inside.append(m[pts[:, 1].clip(0, 255), pts[:, 0].clip(0, 255)].mean())
    # focal findings jitter around a spot of the region, so a few fixations may fall just outside
    assert np.mean(inside) > 0.8
    # without augmentation the rendered points are the record points
    np.testing.assert_allclose(ds[0]["points"].numpy(), ds.records[0]["points"], atol=1e-3)


def test_text_is_needed():
    """The mean scanpath per region beats the overall mean by a wide margin (a text-blind model loses)."""
    ds = S.make_synthetic_gaze(1500, seed=1, augment=False)
    p = np.stack([r["points"] for r in ds.records]) / 256.0
    reg = np.array([r["region"] for r in ds.records])
    blind = np.linalg.norm(p - p.mean(0), axis=-1).mean()
    informed = np.mean(np.concatenate([np.linalg.norm(p[reg == g] - p[reg == g].mean(0), axis=-1).ravel() for g in set(reg)]))
    assert informed < 0.6 * blind


def test_augmentation_moves_points_with_the_image():
    from scipy.ndimage import gaussian_filter, map_coordinates

    ds = S.make_synthetic_gaze(6, seed=2, image_size=256, base_size=256)
    base = gaussian_filter(S.sample_radiograph(256).astype(np.float64), 3)
    rng = np.random.default_rng(0)
    p = rng.uniform(60, 196, size=(50, 2))  # base pixels (x, y), away from the border
    errs, moved = [], []
    for i in range(6):
        img, fwd = ds.render(i)
        q = ds._map_points(p, fwd)
        rendered = gaussian_filter(img[0].numpy().astype(np.float64), 3)
        got = map_coordinates(rendered, [q[:, 1], q[:, 0]], order=1)
        want = map_coordinates(base, [p[:, 1], p[:, 0]], order=1) ** ds.views[i].gamma
        errs.append(np.abs(got - want).mean())
        moved.append(np.abs(q - p).mean())
    assert max(errs) < 0.04  # the image content at the moved point is the base content at the point
    assert min(moved) > 1.0  # and the views really move things
    # identity view: rendering reproduces the base radiograph (plus the 0.02 noise)
    plain = S.make_synthetic_gaze(1, seed=0, image_size=256, base_size=256, augment=False)
    assert np.abs(plain[0]["image"][0].numpy() - S.sample_radiograph(256)).mean() < 0.03


def test_write_synthetic_dataset(tmp_path):
    dl = S.write_synthetic_dataset(tmp_path / "syn", 10, seed=0, image_size=64, progress=False)
    data = json.loads(dl.read_text())
    assert len(data["training"]) == 8 and len(data["validation"]) == 2
    items = load_gaze_datalist(dl)
    g = read_gaze_csv(items[0]["gaze"])
    assert g["sentence"] == items[0]["sentence"] and g["points"].shape[1] == 2
    with pytest.raises(FileExistsError):
        S.write_synthetic_dataset(tmp_path / "syn", 10, progress=False)


def test_default_vocabulary_covers_the_synthetic_reports():
    # The text encoder (networks layer) keeps its own word list; every synthetic report word must be in it.
    from medwave.networks.blocks.text import default_vocabulary

    missing = set(S.vocabulary_words()) - set(default_vocabulary())
    assert not missing, f"add {sorted(missing)} to medwave.networks.blocks.text.REPORT_WORDS"


def test_vocabulary_words():
    w = S.vocabulary_words()
    assert "lingula" in w and "cardiomegaly" in w and "finding" not in w
