"""Readers: radiographs (DICOM/PNG), REFLACX and EGD-CXR on small hand-written files, gaze CSV, datalists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medwave.gaze import io as gio

REFLACX_FIX_HEADER = (
    "timestamp_start_fixation,timestamp_end_fixation,x_position,y_position,pupil_area_normalized,"
    "angular_resolution_x_pixels_per_degree,angular_resolution_y_pixels_per_degree,window_width,window_level,"
    "xmin_shown_from_image,ymin_shown_from_image,xmax_shown_from_image,ymax_shown_from_image,"
    "xmin_in_screen_coordinates,ymin_in_screen_coordinates,xmax_in_screen_coordinates,ymax_in_screen_coordinates"
)


def _reflacx_case(tmp_path):
    d = tmp_path / "P102R108387"
    d.mkdir()
    rows = [
        (0.10, 0.40, 100, 200),  # before speaking
        (1.00, 1.30, 110, 210),  # sentence 1
        (1.35, 1.90, 120, 220),  # sentence 1
        (2.05, 2.30, 900, 800),  # overlaps the end of sentence 1 (ends 2.1) and sentence 2
        (2.60, 3.00, 950, 850),  # sentence 2
        (9.00, 9.50, 10, 10),  # after the report
    ]
    tail = ",1.0,94.0,94.0,0.99,0.49,0,303,2544,3056,0,0,1920,1080"
    (d / "fixations.csv").write_text(
        REFLACX_FIX_HEADER + "\n" + "\n".join(f"{a},{b},{x},{y}{tail}" for a, b, x, y in rows) + "\n"
    )
    words = [
        ("Small", 1.0, 1.2), ("left", 1.2, 1.4), ("effusion", 1.4, 2.0), (".", 2.0, 2.1),
        ("Heart", 2.2, 2.5), ("is", 2.5, 2.6), ("normal.", 2.6, 3.1),
    ]
    (d / "timestamps_transcription.csv").write_text(
        "word,timestamp_start_word,timestamp_end_word\n" + "\n".join(f"{w},{a},{b}" for w, a, b in words) + "\n"
    )
    return d


def test_read_reflacx_sentences_and_fixations(tmp_path):
    sents = gio.read_reflacx(_reflacx_case(tmp_path))
    assert [s.sentence for s in sents] == ["Small left effusion.", "Heart is normal."]
    assert (sents[0].start, sents[0].end) == (1.0, 2.1)
    np.testing.assert_array_equal(sents[0].points, [[110, 210], [120, 220], [900, 800]])
    np.testing.assert_allclose(sents[0].durations, [0.3, 0.55, 0.25])
    np.testing.assert_array_equal(sents[1].points, [[900, 800], [950, 850]])
    assert sents[0].image_id == "P102R108387"
    # lead: also fixations up to 1 s before the sentence
    lead = gio.read_reflacx(tmp_path / "P102R108387", lead=1.0)
    assert len(lead[0].points) == 4 and tuple(lead[0].points[0]) == (100, 200)


def test_read_reflacx_missing_column(tmp_path):
    d = _reflacx_case(tmp_path)
    (d / "fixations.csv").write_text("timestamp_start_fixation,x_position\n0,1\n")
    with pytest.raises(ValueError, match="missing columns"):
        gio.read_reflacx(d)


EGD_HEADER = (
    "DICOM_ID,CNT,Time (in secs),TIMETICK(f=10000000),FPOGX,FPOGY,FPOGS,FPOGD,FPOGID,FPOGV,BPOGX,BPOGY,BPOGV,"
    "CX,CY,CS,USER,LPCX,LPCY,LPD,LPS,LPV,RPCX,RPCY,RPD,RPS,RPV,BKID,BKDUR,BKPMIN,LPMM,LPMMV,RPMM,RPMMV,"
    "SACCADE_MAG,SACCADE_DIR,X_ORIGINAL,Y_ORIGINAL"
)


def _egd_row(did, cnt, t, dur, x, y):
    mid = ",".join(["0"] * 23)
    return f"{did},{cnt},{t},0,0.5,0.5,{t},{dur},{cnt},1,0,0,0,{mid},{x},{y}"


def test_read_egd_cxr(tmp_path):
    a, b = "1a2b3c4d-aaaa", "9z8y7x6w-bbbb"
    rows = [
        _egd_row(a, 1, 0.2, 0.3, 500, 600),
        _egd_row(a, 2, 1.1, 0.4, 510, 610),
        _egd_row(a, 3, 3.2, 0.2, 1500, 1400),
        _egd_row(b, 1, 0.5, 0.5, 10, 20),
    ]
    fx = tmp_path / "fixations.csv"
    fx.write_text(EGD_HEADER + "\n" + "\n".join(rows) + "\n")
    tdir = tmp_path / "audio_segmentation_transcripts"
    (tdir / a).mkdir(parents=True)
    (tdir / a / "transcript.json").write_text(
        json.dumps(
            {
                "full_text": "right lower lobe opacity. heart is enlarged.",
                "time_stamped_text": [
                    {"phrase": "right lower lobe", "begin_time": 1.0, "end_time": 1.8},
                    {"phrase": "opacity.", "begin_time": 1.8, "end_time": 2.4},
                    {"phrase": "heart is enlarged.", "begin_time": 3.0, "end_time": 4.0},
                ],
            }
        )
    )
    out = gio.read_egd_cxr(fx, tdir)
    assert list(out) == [a]  # b has no transcript
    s = out[a]
    assert [x.sentence for x in s] == ["right lower lobe opacity.", "heart is enlarged."]
    np.testing.assert_array_equal(s[0].points, [[510, 610]])
    np.testing.assert_array_equal(s[1].points, [[1500, 1400]])
    np.testing.assert_allclose(s[1].durations, [0.2])
    with pytest.raises(FileNotFoundError, match="no transcript"):
        gio.read_egd_cxr(fx, tdir, dicom_id=b)


def test_gaze_csv_round_trip_and_foreign_columns(tmp_path):
    pts = np.array([[1.25, 2.5], [300.0, 400.125]])
    p = gio.write_gaze_csv(tmp_path / "g.csv", pts, durations=[0.2, 0.3], sentence="Left  base\nopacity.")
    r = gio.read_gaze_csv(p)
    np.testing.assert_array_equal(r["points"], pts)
    np.testing.assert_array_equal(r["durations"], [0.2, 0.3])
    assert r["times"] is None and r["sentence"] == "Left base opacity."
    with pytest.raises(FileExistsError):
        gio.write_gaze_csv(p, pts, overwrite=False)
    # a REFLACX fixations file reads as gaze points
    q = tmp_path / "fixations.csv"
    q.write_text("timestamp_start_fixation,timestamp_end_fixation,x_position,y_position\n0.5,0.7,11,12\n")
    r2 = gio.read_gaze_csv(q)
    np.testing.assert_array_equal(r2["points"], [[11, 12]])
    np.testing.assert_array_equal(r2["times"], [0.5])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no x/y columns"):
        gio.read_gaze_csv(bad)
    with pytest.raises(ValueError, match="shape"):
        gio.write_gaze_csv(tmp_path / "h.csv", np.zeros((3, 3)))


def test_gaze_csv_is_plain_csv_and_old_files_still_read(tmp_path):
    """The CSV has no comment line (plain CSV readers take it as is); files of the old layout (a leading
    ``# sentence:`` line) still read."""
    import csv

    pts = np.array([[1.0, 2.0], [3.0, 4.0]])
    p = gio.write_gaze_csv(tmp_path / "g.csv", pts, sentence="Opacity, left base.")
    rows = list(csv.DictReader(p.open(newline="")))
    assert p.read_text().splitlines()[0] == "index,x,y,duration,time,sentence"
    assert [(float(r["x"]), float(r["y"])) for r in rows] == [(1.0, 2.0), (3.0, 4.0)]
    assert {r["sentence"] for r in rows} == {"Opacity, left base."}
    assert gio.read_gaze_csv(p)["sentence"] == "Opacity, left base."
    assert gio.read_gaze_csv(gio.write_gaze_csv(tmp_path / "n.csv", pts))["sentence"] is None
    old = tmp_path / "old.csv"
    old.write_text("# sentence: Heart is enlarged.\nindex,x,y,duration,time\n0,5.0,6.0,,\n")
    r = gio.read_gaze_csv(old)
    assert r["sentence"] == "Heart is enlarged." and r["points"].tolist() == [[5.0, 6.0]]


def test_resample_points():
    pts = np.arange(10, dtype=float).reshape(5, 2)
    np.testing.assert_array_equal(gio.resample_points(pts, 3), pts[[0, 2, 4]])
    np.testing.assert_array_equal(gio.resample_points(pts[:2], 4), pts[[0, 0, 1, 1]])
    with pytest.raises(ValueError):
        gio.resample_points(np.zeros((0, 2)), 3)


def test_load_real_dicom_monochrome1_inverted():
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file("RG1_UNCR.dcm")
    img, meta = gio.load_radiograph(path, return_meta=True)
    raw = pydicom.dcmread(path).pixel_array.astype(np.float64)
    assert meta["photometric"] == "MONOCHROME1"
    expected = (raw.max() - raw) / (raw.max() - raw.min())
    np.testing.assert_allclose(img, expected, atol=1e-6)
    assert img.dtype == np.float32 and img.shape == raw.shape


def _write_dicom(path, arr, photometric="MONOCHROME2", slope=None, intercept=None):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [0.5, 0.25]
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_load_dicom_rescale_and_monochrome2(tmp_path):
    arr = np.array([[0, 10], [20, 40]], dtype=np.uint16)
    _write_dicom(tmp_path / "a.dcm", arr, slope=2.0, intercept=-100.0)
    img, meta = gio.load_radiograph(tmp_path / "a.dcm", return_meta=True)
    np.testing.assert_allclose(img, [[0, 0.25], [0.5, 1.0]])
    assert meta["pixel_spacing"] == [0.5, 0.25]
    _write_dicom(tmp_path / "b.dcm", arr, photometric="MONOCHROME1")
    np.testing.assert_allclose(gio.load_radiograph(tmp_path / "b.dcm"), [[1.0, 0.75], [0.5, 0.0]])


def test_load_png_jpeg_and_errors(tmp_path):
    from skimage import io as skio

    g = np.array([[0, 128], [255, 64]], dtype=np.uint8)
    skio.imsave(str(tmp_path / "g.png"), g, check_contrast=False)
    np.testing.assert_allclose(gio.load_radiograph(tmp_path / "g.png"), g / 255.0, atol=1e-6)
    g16 = np.array([[0, 65535]], dtype=np.uint16)
    skio.imsave(str(tmp_path / "g16.png"), g16, check_contrast=False)
    np.testing.assert_allclose(gio.load_radiograph(tmp_path / "g16.png"), [[0.0, 1.0]])
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., :] = 200
    skio.imsave(str(tmp_path / "c.jpg"), rgb, check_contrast=False)
    assert gio.load_radiograph(tmp_path / "c.jpg").shape == (8, 8)
    with pytest.raises(FileNotFoundError):
        gio.load_radiograph(tmp_path / "nope.png")
    (tmp_path / "x.dcm").write_bytes(b"not a dicom")
    with pytest.raises(ValueError, match="x.dcm"):
        gio.load_radiograph(tmp_path / "x.dcm")
    (tmp_path / "x.gif2").write_bytes(b"")
    with pytest.raises(ValueError, match="unsupported"):
        gio.load_radiograph(tmp_path / "x.gif2")


def test_datalist_resolves_relative_paths(tmp_path):
    (tmp_path / "d").mkdir()
    dl = tmp_path / "d" / "list.json"
    dl.write_text(json.dumps({"training": [{"image": "a.png", "sentence": "x", "gaze": "/abs/g.csv"}]}))
    items = gio.load_gaze_datalist(dl)
    assert items[0]["image"] == str(tmp_path / "d" / "a.png") and items[0]["gaze"] == "/abs/g.csv"
    with pytest.raises(ValueError, match="validation"):
        gio.load_gaze_datalist(dl, key="validation")
    dl.write_text(json.dumps({"training": [{"image": "a.png"}]}))
    with pytest.raises(ValueError, match="lacks"):
        gio.load_gaze_datalist(dl)
