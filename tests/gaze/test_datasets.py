"""REFLACX / EGD-CXR local copies -> per-sentence gaze datalists (hand-written miniature copies)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medwave.gaze.datasets import build_egd_cxr_datalist, build_reflacx_datalist
from medwave.gaze.io import load_gaze_datalist, read_gaze_csv


def _reflacx(root):
    md = root / "main_data"
    md.mkdir(parents=True)
    (md / "metadata_phase_1.csv").write_text(
        "id,split,eye_tracking_data_discarded,image,dicom_id\n"
        "P1R1,train,False,physionet.org/files/mimic-cxr/2.0.0/files/p10/p1/s1/d1.dcm,d1\n"
        "P1R2,test,False,physionet.org/files/mimic-cxr/2.0.0/files/p10/p1/s2/d2.dcm,d2\n"
        "P1R3,train,True,physionet.org/files/mimic-cxr/2.0.0/files/p10/p1/s3/d3.dcm,d3\n"
    )
    for case, x in (("P1R1", 100), ("P1R2", 200), ("P1R3", 300)):
        d = md / case
        d.mkdir()
        (d / "fixations.csv").write_text(
            "timestamp_start_fixation,timestamp_end_fixation,x_position,y_position\n"
            f"1.0,1.5,{x},{x + 1}\n3.0,3.4,{x + 5},{x + 6}\n"
        )
        (d / "timestamps_transcription.csv").write_text(
            "word,timestamp_start_word,timestamp_end_word\nLeft,0.9,1.2\neffusion.,1.2,1.8\nNo,2.9,3.0\npneumothorax.,3.0,3.5\n"
        )


def test_build_reflacx_datalist(tmp_path):
    _reflacx(tmp_path / "reflacx")
    dl = build_reflacx_datalist(tmp_path / "reflacx", tmp_path / "mimic", tmp_path / "out", progress=False)
    data = json.loads(dl.read_text())
    assert [it["sentence"] for it in data["training"]] == ["Left effusion.", "No pneumothorax."]
    assert len(data["test"]) == 2 and data["validation"] == []  # P1R3 discarded
    items = load_gaze_datalist(dl)
    assert items[0]["image"] == str(tmp_path / "mimic" / "files" / "p10" / "p1" / "s1" / "d1.dcm")
    g = read_gaze_csv(items[1]["gaze"])
    np.testing.assert_array_equal(g["points"], [[105, 106]])
    assert g["sentence"] == "No pneumothorax." and g["durations"][0] == pytest.approx(0.4)
    with pytest.raises(FileExistsError):
        build_reflacx_datalist(tmp_path / "reflacx", tmp_path / "mimic", tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError, match="metadata_phase"):
        build_reflacx_datalist(tmp_path, tmp_path / "mimic", tmp_path / "out2", progress=False)


def test_build_egd_cxr_datalist(tmp_path):
    root = tmp_path / "egd"
    (root / "audio_segmentation_transcripts" / "d1").mkdir(parents=True)
    (root / "master_sheet.csv").write_text("dicom_id,path\nd1,files/p10/p1/s1/d1.dcm\n")
    (root / "fixations.csv").write_text(
        "DICOM_ID,CNT,Time (in secs),FPOGD,X_ORIGINAL,Y_ORIGINAL\nd1,1,0.5,0.2,10,20\nd1,2,2.5,0.2,30,40\n"
    )
    (root / "audio_segmentation_transcripts" / "d1" / "transcript.json").write_text(json.dumps({
        "full_text": "heart normal. lungs clear.",
        "time_stamped_text": [{"phrase": "heart normal.", "begin_time": 0.4, "end_time": 1.0},
                              {"phrase": "lungs clear.", "begin_time": 2.4, "end_time": 3.0}]}))
    split = tmp_path / "split.csv"
    split.write_text("dicom_id,study_id,subject_id,split\nd1,1,1,validate\n")
    dl = build_egd_cxr_datalist(root, tmp_path / "mimic", tmp_path / "out", split_csv=split, progress=False)
    data = json.loads(dl.read_text())
    assert data["training"] == [] and [it["sentence"] for it in data["validation"]] == ["heart normal.", "lungs clear."]
    items = load_gaze_datalist(dl, key="validation")
    np.testing.assert_array_equal(read_gaze_csv(items[1]["gaze"])["points"], [[30, 40]])
