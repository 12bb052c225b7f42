"""SWC and gaze CSV readers/writers in a real viewer."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.napari


@pytest.fixture
def small_swc(tmp_path):
    text = """# a small neuron
# second comment
1 1 10 20 5 3 -1
2 3 14 20 5 1.5 1
3 3 18 21 6 1.25 2
4 3 20 25 6 1 3
5 3 20 17 6 1 3
6 2 6 20 5 1 1
"""
    p = tmp_path / "cell.swc"
    p.write_text(text)
    return p


def test_swc_opens_as_points_with_radii_and_branch_paths(viewer, small_swc):
    layers = viewer.open(str(small_swc), plugin="medwave")
    pts, paths = layers
    assert pts._type_string == "points" and paths._type_string == "shapes"
    # (z, y, x) order, so the neuron overlays a (Z, Y, X) stack
    np.testing.assert_allclose(pts.data[0], [5, 20, 10])
    np.testing.assert_allclose(pts.data[3], [6, 25, 20])
    np.testing.assert_allclose(pts.size, [6, 3, 2.5, 2, 2, 2])
    assert list(pts.features["parent"]) == [-1, 1, 2, 3, 3, 1]
    # branches: root->node3 (through 2), 3->4, 3->5, root->6
    assert sorted(len(p) for p in paths.data) == [2, 2, 2, 3]
    assert set(paths.shape_type) == {"path"}


def test_swc_round_trip_and_edited_points(viewer, small_swc, tmp_path):
    from medwave.neuron.swc import read_swc

    pts, _ = viewer.open(str(small_swc), plugin="medwave")
    out = tmp_path / "out.swc"
    pts.save(str(out), plugin="medwave")
    a, b = read_swc(small_swc), read_swc(out)
    np.testing.assert_allclose(a.nodes, b.nodes)
    assert b.comments == a.comments
    # delete node 2: node 3 loses its parent and becomes a root; move node 6
    pts.selected_data = {1}
    pts.remove_selected()
    pts.data = np.vstack([pts.data[:-1], [[5.0, 20.0, 4.0]]])
    out2 = tmp_path / "edited.swc"
    pts.save(str(out2), plugin="medwave")
    c = read_swc(out2)
    assert len(c) == 5
    assert c.nodes[c.ids == 3][0, 6] == -1
    np.testing.assert_allclose(c.nodes[c.ids == 6][0, 2:5], [4.0, 20.0, 5.0])


def test_gaze_csv_opens_as_numbered_scanpath_and_round_trips(viewer, tmp_path):
    from medwave.gaze.io import read_gaze_csv, write_gaze_csv

    pts = np.array([[100.0, 50.0], [120.5, 80.0], [60.0, 90.0]])
    src = write_gaze_csv(tmp_path / "g.csv", pts, durations=[0.2, 0.4, 0.3], times=[0.0, 0.25, 0.7],
                         sentence="The heart is normal.")
    points, path = viewer.open(str(src), plugin="medwave")
    assert points._type_string == "points" and path._type_string == "shapes"
    np.testing.assert_allclose(points.data, pts[:, ::-1])  # (row, col) = (y, x)
    assert list(points.features["order"]) == [1, 2, 3]
    assert list(points.text.values) == ["1", "2", "3"]
    assert points.size[1] > points.size[0]  # longer fixation, bigger point
    assert points.metadata["sentence"] == "The heart is normal."
    np.testing.assert_allclose(path.data[0], pts[:, ::-1])
    out = tmp_path / "g_out.csv"
    points.save(str(out), plugin="medwave")
    a, b = read_gaze_csv(src), read_gaze_csv(out)
    np.testing.assert_allclose(b["points"], a["points"])
    np.testing.assert_allclose(b["durations"], a["durations"])
    np.testing.assert_allclose(b["times"], a["times"])
    assert b["sentence"] == a["sentence"]


def test_reflacx_style_csv_is_read_and_other_csvs_are_left_to_napari(tmp_path):
    from medwave.napari._gaze import get_gaze_reader

    r = tmp_path / "fixations.csv"
    r.write_text("timestamp_start_fixation,timestamp_end_fixation,x_position,y_position\n0.1,0.3,500,600\n")
    assert get_gaze_reader(str(r)) is not None
    other = tmp_path / "table.csv"
    other.write_text("index,axis-0,axis-1\n0,1,2\n")
    assert get_gaze_reader(str(other)) is None
