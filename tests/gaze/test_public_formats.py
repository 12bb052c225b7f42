"""REFLACX and EGD-CXR miniature copies written to the published formats: the readers, the datalist
builders and `medwave train-gaze --datalist` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medwave.cli import main
from medwave.gaze import io as gio
from medwave.gaze.datasets import build_egd_cxr_datalist, build_reflacx_datalist
from medwave.networks import GEM

REFLACX_FIX_HEADER = (
    "timestamp_start_fixation,timestamp_end_fixation,x_position,y_position,pupil_area_normalized,"
    "angular_resolution_x_pixels_per_degree,angular_resolution_y_pixels_per_degree,window_width,window_level,"
    "xmin_shown_from_image,ymin_shown_from_image,xmax_shown_from_image,ymax_shown_from_image,"
    "xmin_in_screen_coordinates,ymin_in_screen_coordinates,xmax_in_screen_coordinates,ymax_in_screen_coordinates"
)
ELLIPSE_HEADER = (
    "xmin,ymin,xmax,ymax,certainty,Airway wall thickening,Atelectasis,Consolidation,Emphysema,"
    "Enlarged cardiac silhouette,Fibrosis,Fracture,Groundglass opacity,Mass,Nodule,Other,Pleural effusion,"
    "Pleural thickening,Pneumothorax,Pulmonary edema,Wide mediastinum,Abnormal mediastinal contour,"
    "Acute fracture,Enlarged hilum,Hiatal hernia,High lung volume / emphysema,Interstitial lung disease,"
    "Lung nodule or mass,Pleural abnormality"
)
EGD_HEADER = (
    "DICOM_ID,CNT,Time (in secs),TIMETICK(f=10000000),FPOGX,FPOGY,FPOGS,FPOGD,FPOGID,FPOGV,BPOGX,BPOGY,BPOGV,"
    "CX,CY,CS,USER,LPCX,LPCY,LPD,LPS,LPV,RPCX,RPCY,RPD,RPS,RPV,BKID,BKDUR,BKPMIN,LPMM,LPMMV,RPMM,RPMMV,"
    "SACCADE_MAG,SACCADE_DIR,X_ORIGINAL,Y_ORIGINAL"
)


def _ellipse_row(box, certainty, labels):
    names = ELLIPSE_HEADER.split(",")[5:]
    return ",".join([*(str(v) for v in box), str(certainty), *("True" if n in labels else "False" for n in names)])


def _image(path, rng):
    from medwave.gaze.io import save_png

    save_png(path, rng.random((96, 80)))


def _reflacx_copy(root, images, rng):
    md = root / "main_data"
    md.mkdir(parents=True)
    rows = []
    for i, split in enumerate(("train", "train", "validate")):
        rid, did = f"P1R{i}", f"d{i}"
        rel = f"physionet.org/files/mimic-cxr/2.0.0/files/p10/p1/s{i}/{did}.png"
        _image(images / "files" / "p10" / "p1" / f"s{i}" / f"{did}.png", rng)
        rows.append(f"{rid},{split},False,{rel},{did},80,96")
        d = md / rid
        d.mkdir()
        fix = [(0.5 + 0.4 * j, 0.8 + 0.4 * j, 10 + 5 * j, 20 + 3 * j) for j in range(8)]
        tail = ",1.0,94.0,94.0,0.99,0.49,0,0,80,96,0,0,1920,1080"
        (d / "fixations.csv").write_text(REFLACX_FIX_HEADER + "\n" + "\n".join(f"{a},{b},{x},{y}{tail}" for a, b, x, y in fix) + "\n")
        words = [("Small", 0.4, 0.8), ("left", 0.8, 1.0), ("effusion", 1.0, 1.6), (".", 1.6, 1.7),
                 ("No", 2.0, 2.2), ("pneumothorax.", 2.2, 3.6)]
        (d / "timestamps_transcription.csv").write_text(
            "word,timestamp_start_word,timestamp_end_word\n" + "\n".join(f"{w},{a},{b}" for w, a, b in words) + "\n")
        (d / "anomaly_location_ellipses.csv").write_text(
            ELLIPSE_HEADER + "\n" + _ellipse_row((40, 60, 70, 90), 4, {"Pleural effusion", "Pleural abnormality"}) + "\n"
            + _ellipse_row((5, 5, 15, 25), 1, {"Nodule", "Lung nodule or mass"}) + "\n")
    (md / "metadata_phase_3.csv").write_text(
        "id,split,eye_tracking_data_discarded,image,dicom_id,image_size_x,image_size_y\n" + "\n".join(rows) + "\n")


def _egd_copy(root, images, rng):
    (root / "audio_segmentation_transcripts").mkdir(parents=True)
    fix, master, boxes = [], ["dicom_id,path"], ["dicom_id,bbox_name,x1,y1,x2,y2"]
    mid = ",".join(["0"] * 23)
    for i in range(2):
        did = f"e{i}"
        _image(images / "files" / "p11" / "p2" / f"s{i}" / f"{did}.png", rng)
        master.append(f"{did},files/p11/p2/s{i}/{did}.png")
        boxes += [f"{did},right lung,5,10,38,80", f"{did},left lung,42,10,75,80"]
        for j in range(6):
            t = 0.3 + 0.5 * j
            fix.append(f"{did},{j + 1},{t},0,0.5,0.5,{t},0.3,{j + 1},1,0,0,0,{mid},{20 + 4 * j},{30 + 2 * j}")
        (root / "audio_segmentation_transcripts" / did).mkdir()
        (root / "audio_segmentation_transcripts" / did / "transcript.json").write_text(json.dumps({
            "full_text": "the heart is enlarged. the lungs are clear.",
            "time_stamped_text": [{"phrase": "the heart is enlarged.", "begin_time": 0.2, "end_time": 1.4},
                                  {"phrase": "the lungs are clear.", "begin_time": 1.6, "end_time": 3.2}]}))
    (root / "fixations.csv").write_text(EGD_HEADER + "\n" + "\n".join(fix) + "\n")
    (root / "master_sheet.csv").write_text("\n".join(master) + "\n")
    (root / "bounding_boxes.csv").write_text("\n".join(boxes) + "\n")


def test_reflacx_ellipses_reader(tmp_path):
    rng = np.random.default_rng(0)
    _reflacx_copy(tmp_path / "reflacx", tmp_path / "mimic", rng)
    case = tmp_path / "reflacx" / "main_data" / "P1R0"
    ells = gio.read_reflacx_ellipses(case)
    assert [e["box"] for e in ells] == [(40.0, 60.0, 70.0, 90.0), (5.0, 5.0, 15.0, 25.0)]
    assert ells[0]["labels"] == ["Pleural effusion", "Pleural abnormality"] and ells[0]["certainty"] == 4
    assert len(gio.read_reflacx_ellipses(case / "anomaly_location_ellipses.csv", min_certainty=2)) == 1
    m = gio.box_mask((1, 1, 5, 3), (6, 8), ellipse=True)  # centre (3, 2), semi-axes 2 and 1
    assert m[2, 3] and m[2, 1] and m[2, 5] and m[1, 3] and m[3, 3] and not m[1, 1] and m.sum() == 7
    assert gio.box_mask((1, 1, 5, 3), (6, 8)).sum() == 15
    (case / "bad.csv").write_text("xmin,ymin,xmax\n1,2,3\n")
    with pytest.raises(ValueError, match="ymax or y2"):
        gio.read_reflacx_ellipses(case / "bad.csv")


def test_egd_cxr_boxes_reader(tmp_path):
    _egd_copy(tmp_path / "egd", tmp_path / "mimic", np.random.default_rng(0))
    boxes = gio.read_egd_cxr_boxes(tmp_path / "egd" / "bounding_boxes.csv")
    assert sorted(boxes) == ["e0", "e1"]
    assert boxes["e1"] == [{"name": "right lung", "box": (5.0, 10.0, 38.0, 80.0)},
                           {"name": "left lung", "box": (42.0, 10.0, 75.0, 80.0)}]
    assert list(gio.read_egd_cxr_boxes(tmp_path / "egd" / "bounding_boxes.csv", dicom_id="e0")) == ["e0"]


@pytest.mark.parametrize("which", ["reflacx", "egd"])
def test_train_gaze_runs_end_to_end_on_public_formats(tmp_path, which, capsys):
    rng = np.random.default_rng(1)
    if which == "reflacx":
        _reflacx_copy(tmp_path / "data", tmp_path / "mimic", rng)
        dl = build_reflacx_datalist(tmp_path / "data", tmp_path / "mimic", tmp_path / "dl", progress=False)
        data = json.loads(dl.read_text())
        assert len(data["training"]) == 4 and len(data["validation"]) == 2
        assert data["training"][0]["ellipses"].endswith("anomaly_location_ellipses.csv")
    else:
        _egd_copy(tmp_path / "data", tmp_path / "mimic", rng)
        dl = build_egd_cxr_datalist(tmp_path / "data", tmp_path / "mimic", tmp_path / "dl", progress=False)
        assert len(json.loads(dl.read_text())["training"]) == 4
    out = tmp_path / "run"
    rc = main(["train-gaze", "--datalist", str(dl), "-o", str(out), "--steps", "2", "--batch-size", "2",
               "--image-size", "64", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    net = GEM.from_checkpoint(out / "gem.pt")
    assert net.k == 8 and (out / "last.pt").exists()
