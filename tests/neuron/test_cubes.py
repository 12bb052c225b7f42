"""Tests for medwave.neuron.cubes: partition, blending, streaming to zarr with bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from medwave.neuron.cubes import axis_starts, gaussian_weight, partition, sliding_window_segment


def test_axis_starts_hand_computed():
    assert axis_starts(128, 128, 0.25) == [0]
    assert axis_starts(100, 128, 0.25) == [0]  # short axis: one padded cube
    # stride 128 - 32 = 96; last cube moved inside to end at 300
    assert axis_starts(300, 128, 0.25) == [0, 96, 172]
    assert axis_starts(70, 32, 0.25) == [0, 24, 38]
    assert axis_starts(64, 32, 0.0) == [0, 32]


def test_partition_covers_every_voxel_with_whole_cubes():
    shape = (70, 300, 150)
    cubes = partition(shape, (32, 128, 128), 0.25)
    cover = np.zeros(shape, np.int32)
    for sl in cubes:
        assert tuple(s.stop - s.start for s in sl) == (32, 128, 128)
        cover[sl] += 1
    assert cover.min() >= 1
    assert len(cubes) == 3 * 3 * 2
    with pytest.raises(ValueError, match="overlap"):
        partition(shape, (32, 128, 128), 1.0)


def test_gaussian_weight():
    w = gaussian_weight((8, 16, 16))
    assert w.shape == (8, 16, 16) and w.max() == pytest.approx(1.0, abs=0.05) and w.min() >= 1e-3
    np.testing.assert_allclose(w, w[::-1, ::-1, ::-1])


@pytest.mark.parametrize("shape, cube, overlap", [((70, 200, 130), (32, 64, 64), 0.25), ((20, 50, 40), (32, 64, 64), 0.5),
                                                  ((33, 65, 97), (16, 32, 32), 0.0)])
def test_reassembly_equals_whole_stack_prediction(rng, shape, cube, overlap):
    # A voxel-wise predictor gives the same answer whole or in cubes; a wrong cube index, a wrong
    # crop/padding or a missing weight normalisation would break the equality.
    x = rng.random(shape, dtype=np.float32)
    seen = []

    def predictor(batch):
        seen.append(batch.shape)
        return 1.0 / (1.0 + np.exp(-8 * (batch[:, 0] - 0.4)))

    prob, mask = sliding_window_segment(x, predictor, cube=cube, overlap=overlap, batch_size=3, progress=False)
    whole = 1.0 / (1.0 + np.exp(-8 * (x - 0.4)))
    np.testing.assert_allclose(prob, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(mask, whole > 0.5)
    assert all(s[1:] == (1,) + cube for s in seen)  # padded to whole cubes
    assert sum(s[0] for s in seen) == len(partition(shape, cube, overlap))


def test_blending_is_a_weighted_mean_of_overlapping_cubes():
    # Each cube predicts a constant; in the overlap the result lies strictly between the two constants.
    x = np.zeros((8, 8, 24), np.float32)
    calls = iter(range(100))

    def predictor(batch):
        return np.full(batch.shape[:1] + batch.shape[2:], float(next(calls)), np.float32)

    prob, _ = sliding_window_segment(x, predictor, cube=(8, 8, 16), overlap=0.5, progress=False)
    # cubes at x = 0 (value 0) and x = 8 (value 1)
    np.testing.assert_allclose(prob[..., :8], 0.0)
    np.testing.assert_allclose(prob[..., 16:], 1.0)
    mid = prob[4, 4, 8:16]
    assert np.all(np.diff(mid) > 0) and 0 < mid[0] < 0.5 < mid[-1] < 1


def _stream_peak(tmp_path, rng, depth):
    zarr = pytest.importorskip("zarr")
    shape = (depth, 160, 160)
    d = tmp_path / str(depth)
    src = zarr.open_array(str(d / "in.zarr"), mode="w", shape=shape, chunks=(32, 128, 128), dtype="uint16")
    data = rng.integers(0, 1000, size=shape, dtype=np.uint16)
    src[:] = data
    prob = zarr.open_array(str(d / "prob.zarr"), mode="w", shape=shape, chunks=(32, 128, 128), dtype="float32")
    mask = zarr.open_array(str(d / "mask.zarr"), mode="w", shape=shape, chunks=(32, 128, 128), dtype="uint8")
    tracemalloc.start()
    sliding_window_segment(src, lambda b: b[:, 0] / 1000.0, cube=(32, 128, 128), prob_out=prob, mask_out=mask,
                           progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_allclose(prob[:], data / 1000.0, rtol=1e-5)
    np.testing.assert_array_equal(mask[:], (data / 1000.0) > 0.5)
    return peak, np.prod(shape) * 4


def test_streams_to_zarr_with_memory_bounded_by_a_slab(tmp_path, rng):
    # zarr in, zarr out: the peak does not grow with the stack depth (one 32-deep slab of
    # accumulators plus a few cubes and zarr chunk buffers), and stays well below the float stack.
    peak_small, small_f32 = _stream_peak(tmp_path, rng, 96)
    peak_big, big_f32 = _stream_peak(tmp_path, rng, 384)
    # 4x the stack, (almost) the same peak: an O(stack) buffer would grow by >= 1x the added float data
    assert peak_big - peak_small < 0.35 * (big_f32 - small_f32), (peak_small / 1e6, peak_big / 1e6)


def test_bad_predictor_and_stack():
    with pytest.raises(ValueError, match="predictor returned shape"):
        sliding_window_segment(np.zeros((8, 8, 8)), lambda b: b, cube=(8, 8, 8), progress=False)
    with pytest.raises(ValueError, match="3D"):
        sliding_window_segment(np.zeros((8, 8)), lambda b: b[:, 0], progress=False)
