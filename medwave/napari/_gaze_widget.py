"""Gaze widget: radiograph + report sentence -> :func:`medwave.predict_gaze` -> scanpath, heatmap, matching."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from magicgui.widgets import ComboBox, FileEdit, LineEdit, PushButton, SpinBox

from medwave.napari._common import WorkerWidget, layer_transform_kwargs, read_only_text
from medwave.napari._gaze import gaze_to_layer_data

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["GazeWidget", "match_points"]


def match_points(pred_xy: np.ndarray, true_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal one-to-one matching (Hungarian, Euclidean) of predicted and true gaze points.

    The same matching as :func:`medwave.gaze.metrics.hungarian_distance`, returned pair by pair.

    Returns:
        ``(pred_index, true_index, distance)`` of the ``min(N, M)`` matched pairs.
    """
    from scipy.optimize import linear_sum_assignment

    a = np.asarray(pred_xy, np.float64).reshape(-1, 2)
    b = np.asarray(true_xy, np.float64).reshape(-1, 2)
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    r, c = linear_sum_assignment(cost)
    return r, c, cost[r, c]


class GazeWidget(WorkerWidget):
    """Predict where a radiologist looks while dictating a sentence, with :func:`medwave.predict_gaze`.

    The sentence defaults to the image layer's ``metadata['report_sentence']`` (the chest sample has
    one). Adds ``gaze heatmap`` (fixation density, inferno, additive), ``gaze points`` (numbered 1..K in
    scanpath order) and ``gaze scanpath``. With a *ground truth* points layer (e.g. an opened gaze CSV)
    it adds ``gaze matching`` lines joining each predicted point to its Hungarian match and shows the
    matched mean distance, mean point distance and DTW (pixels).
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        from napari.layers import Image, Points

        super().__init__(napari_viewer, labels=True)
        self._img_cls, self._pts_cls = Image, Points
        self.image = ComboBox(label="radiograph", choices=self._image_choices, nullable=False)
        self.sentence = LineEdit(label="sentence", value="")
        self.ground_truth = ComboBox(label="ground truth", choices=self._points_choices, nullable=True, value=None)
        self.weights = FileEdit(label="weights", mode="r", filter="*.pt", value="",
                                tooltip="A checkpoint from `medwave train-gaze`; empty: the shipped GEM weights.")
        self.k = SpinBox(label="points", value=8, min=1, max=64)
        self.run_btn = PushButton(text="Predict gaze")
        self.run_btn.changed.connect(self.run)
        self.summary = read_only_text(height=110)
        self.result: Optional[Any] = None
        self.image.changed.connect(self._default_sentence)
        self.extend([self.image, self.sentence, self.ground_truth, self.weights, self.k, self.run_btn])
        self._finish_layout()
        self.append(self.summary)
        for ev in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            ev.connect(self._refresh)
        self._refresh()

    def _image_choices(self, *_: Any) -> list:
        return [(l.name, l) for l in self.viewer.layers if isinstance(l, self._img_cls) and l.data.ndim == 2]

    def _points_choices(self, *_: Any) -> list:
        return [(l.name, l) for l in self.viewer.layers
                if isinstance(l, self._pts_cls) and l.data.shape[1] == 2 and not l.metadata.get("medwave_predicted")]

    def _refresh(self, *_: Any) -> None:
        self.image.reset_choices()
        self.ground_truth.reset_choices()
        self._default_sentence()

    def _default_sentence(self, *_: Any) -> None:
        layer = self.image.value
        text = (getattr(layer, "metadata", None) or {}).get("report_sentence")
        if text and not str(self.sentence.value).strip():
            self.sentence.value = text

    def run(self, *_: Any) -> Any:
        """Start the prediction (returns the worker)."""
        import medwave

        layer = self.image.value
        if layer is None:
            self.set_status("Open a 2D radiograph first (File > Open Sample > medwave > Chest radiograph).")
            return None
        sentence = str(self.sentence.value).strip()
        if not sentence:
            self.set_status("Type the report sentence (e.g. 'Opacity in the left lung base.').")
            return None
        data = np.asarray(layer.data)
        path = str(self.weights.value or "").strip()
        weights = path if path not in ("", ".") else None
        k = int(self.k.value)
        kw = layer_transform_kwargs(layer)
        gt = self.ground_truth.value
        gt_xy = np.asarray(gt.data, np.float64)[:, ::-1] if gt is not None else None
        gt_kw = layer_transform_kwargs(gt) if gt is not None else None
        if gt is not None and not (np.allclose(gt_kw["scale"], kw["scale"]) and np.allclose(gt_kw["translate"], kw["translate"])):
            # ground truth drawn on another grid: bring it to the radiograph's pixels through world coordinates
            world = np.array([gt.data_to_world(p) for p in gt.data])
            gt_xy = np.array([layer.world_to_data(w) for w in world])[:, ::-1]

        def job():
            yield 0
            res = medwave.predict_gaze(data, sentence, weights=weights, k=k)[0]  # one sentence
            yield 1
            match = match_points(res.points, gt_xy) if gt_xy is not None and len(gt_xy) else None
            return res, match

        def done(out: tuple) -> None:
            self._show(*out, kw=kw, gt_xy=gt_xy)

        return self.start(job, done, total=0, desc="Predicting gaze", buttons=(self.run_btn,))

    def _show(self, res: Any, match: Any, *, kw: dict, gt_xy: Optional[np.ndarray]) -> None:
        from medwave.gaze.metrics import mean_point_distance, scanpath_dtw

        self.result = res
        v = self.viewer
        geo = {k: kw[k] for k in ("scale", "translate", "affine") if k in kw}
        v.add_image(res.heatmap, name="gaze heatmap", colormap="inferno", blending="additive", opacity=0.7,
                    metadata={"sentence": res.sentence, **res.meta}, **geo)
        for data, lkw, kind in gaze_to_layer_data(res.points, name="gaze", sentence=res.sentence,
                                                  scale=kw["scale"], translate=kw["translate"], color="#ff4fd8",
                                                  base_size=max(res.heatmap.shape) / 60.0):
            lkw["metadata"]["medwave_predicted"] = True
            getattr(v, f"add_{kind}")(data, **lkw)
        lines = [f"{len(res.points)} points for: {res.sentence!r}"]
        if match is not None and gt_xy is not None:
            r, c, dist = match
            pairs = [np.stack([res.points[i, ::-1], gt_xy[j, ::-1]]) for i, j in zip(r, c)]
            v.add_shapes(pairs, shape_type="line", name="gaze matching", edge_color="cyan",
                         edge_width=max(res.heatmap.shape) / 400.0, metadata={"distances_px": dist.tolist()},
                         scale=kw["scale"], translate=kw["translate"])
            lines.append(f"matched mean distance: {float(dist.mean()):.1f} px")
            if len(gt_xy) == len(res.points):
                lines.append(f"mean point distance (in order): {mean_point_distance(res.points, gt_xy):.1f} px")
            lines.append(f"scanpath DTW: {scanpath_dtw(res.points, gt_xy):.1f} px")
        self.summary.value = "\n".join(lines)
