"""Tests for medwave.neuron.swc: read/write round trip, errors, NeuCuDa rendering."""

from __future__ import annotations

import numpy as np
import pytest

from medwave.neuron.swc import SWC, read_swc, render_swc, write_swc

TEXT = """# ORIGINAL_SOURCE test
#  spaced comment
1 1 10.5 20 30 3.25 -1
2 3 11 21 31 1 1

3 3 12.125 22 32 0.5 2
4 2 9 19 29 0.75 1
"""


def test_read_write_round_trip(tmp_path):
    p = tmp_path / "a.swc"
    p.write_text(TEXT)
    swc = read_swc(p)
    assert swc.comments == [" ORIGINAL_SOURCE test", "  spaced comment"]
    np.testing.assert_array_equal(swc.ids, [1, 2, 3, 4])
    np.testing.assert_array_equal(swc.parents, [-1, 1, 2, 1])
    np.testing.assert_allclose(swc.nodes[2], [3, 3, 12.125, 22, 32, 0.5, 2])
    out = write_swc(swc, tmp_path / "b.swc")
    again = read_swc(out)
    np.testing.assert_allclose(again.nodes, swc.nodes)
    assert again.comments == swc.comments
    assert out.read_text().splitlines()[0] == "# ORIGINAL_SOURCE test"
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left nothing behind
    np.testing.assert_array_equal(swc.edges(), [[1, 0], [2, 1], [3, 0]])
    assert swc.n_trees() == 1
    assert swc.total_length() == pytest.approx(1.5 + np.sqrt(1.125**2 + 2) + np.sqrt(1.5**2 + 2))


@pytest.mark.parametrize(
    "body, match",
    [
        ("1 1 0 0 0 1\n", "line 2: 6 columns"),
        ("1 1 0 0 zero 1 -1\n", "line 2: non-numeric"),
        ("1 1 0 0 0 1 -1\n1 1 0 0 0 1 -1\n", "line 3: node id 1 already used on line 2"),
        ("1 1 0 0 0 1 -1\n2 1 0 0 0 1 7\n", "line 3: parent 7"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, body, match):
    p = tmp_path / "bad.swc"
    p.write_text("# header\n" + body)
    with pytest.raises(ValueError, match=match) as e:
        read_swc(p)
    assert "bad.swc" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.swc"):
        read_swc(tmp_path / "nope.swc")


def _two_nodes(r):
    # nodes at x=2 and x=6, y=2, z=2
    return SWC(np.array([[1, 1, 2, 2, 2, r, -1], [2, 3, 6, 2, 2, r, 1]], float))


def _voxels(mask):
    return set(map(tuple, np.argwhere(mask)))


def test_render_thin_tube_is_the_line():
    # radius 0.5 + 0.25 = 0.75 < 1: only voxels on the axis (z=2, y=2, x=2..6)
    m = render_swc(_two_nodes(0.5), (5, 5, 9))
    assert _voxels(m) == {(2, 2, x) for x in range(2, 7)}


def test_render_radius_one_hand_computed():
    # radius 1.25: along the tube the 4 face neighbours (distance 1) are in, diagonals (1.41) out;
    # the end spheres add the axis voxels x=1 and x=7 (distance 1 from the end nodes).
    m = render_swc(_two_nodes(1.0), (5, 5, 9))
    expect = set()
    for x in range(2, 7):
        expect |= {(2, 2, x), (1, 2, x), (3, 2, x), (2, 1, x), (2, 3, x)}
    expect |= {(2, 2, 1), (2, 2, 7)}
    assert _voxels(m) == expect


def test_render_anisotropic_spacing_and_origin():
    # z voxels 2 units apart: the z neighbours (distance 2) drop out; y spacing 1, x spacing 1.
    m = render_swc(_two_nodes(1.0), (3, 5, 9), spacing=(2.0, 1.0, 1.0))
    expect = set()
    for x in range(2, 7):
        expect |= {(1, 2, x), (1, 1, x), (1, 3, x)}
    expect |= {(1, 2, 1), (1, 2, 7)}
    assert _voxels(m) == expect
    # shifting the origin by one voxel in x shifts the mask by one voxel
    m2 = render_swc(_two_nodes(1.0), (3, 5, 9), spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 1.0))
    assert _voxels(m2) == {(z, y, x - 1) for z, y, x in expect}


def test_render_cone_radius_interpolates():
    # radius 2 at x=2 to 0 at x=10 (+0.25): the face neighbour at distance 1 is in while r(t)+0.25 >= 1
    swc = SWC(np.array([[1, 1, 2, 4, 4, 2.0, -1], [2, 3, 10, 4, 4, 0.0, 1]], float))
    m = render_swc(swc, (9, 9, 13))
    ys = [x for x in range(13) if m[4, 5, x]]
    # r(t) = 2 - 2t, t = (x-2)/8: 2 - (x-2)/4 + 0.25 >= 1  <=> x <= 7
    assert max(ys) == 7
    assert m[4, 4, 10] and not m[4, 4, 11]  # tip sphere radius 0.25 only covers the node voxel
