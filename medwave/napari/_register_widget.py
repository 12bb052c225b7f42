"""Register widget: fixed + moving image layers -> :func:`medwave.register` -> result layers and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, PushButton, SpinBox

from medwave.napari import _registration as views
from medwave.napari._common import WorkerWidget, layer_transform_kwargs, read_only_text
from medwave.napari._layers import layer_to_image, to_layer_order

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["RegisterWidget", "format_metrics"]


def format_metrics(m: dict) -> str:
    """One line per headline number of a registration's metrics (folding %, Dice, SDlogJ, time)."""
    lines = [f"folding: {m['folding_percent']:.3f} % of voxels (|J| <= 0)", f"SDlogJ: {m['sdlogj']:.3f}"]
    if m.get("dice_mean") is not None:
        before = m.get("dice_mean_before")
        lines.append(f"Dice: {m['dice_mean']:.3f}" + (f" (before {before:.3f})" if before is not None else ""))
    lines.append(f"max displacement: {m['displacement_max_voxels']:.2f} voxels")
    if "total_seconds" in m:
        lines.append(f"time: {m['total_seconds']:.1f} s ({m.get('method', '')})")
    return "\n".join(lines)


def _as_image(layer: Any):
    data, meta, _ = layer.as_layer_data_tuple()
    return layer_to_image(data, meta)


class RegisterWidget(WorkerWidget):
    """Deformably register a moving image onto a fixed one with :func:`medwave.register`.

    Adds, on the fixed image's grid: ``<moving> warped``; ``Jacobian determinant`` (diverging map
    centred on 1: blue = compression, red = expansion, saturated blue = folding); ``deformed grid``
    (planes every *grid spacing* voxels bent by the field); ``displacement`` vectors (hidden);
    ``checkerboard before`` / ``checkerboard after`` (fixed vs moving / warped tiles); ``<moving labels>
    warped`` when moving labels are given. Folding %, SDlogJ and Dice (when both label maps are given)
    are shown below and stored in each result layer's ``metadata['registration_metrics']``.

    Cancel discards the result; ``medwave.register`` itself runs to the end of its current call.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        from napari.layers import Image, Labels

        super().__init__(napari_viewer, labels=True)
        self._img_cls, self._lab_cls = Image, Labels
        self.fixed = ComboBox(label="fixed", choices=self._image_choices, nullable=False)
        self.moving = ComboBox(label="moving", choices=self._image_choices, nullable=False)
        self.fixed_labels = ComboBox(label="fixed labels", choices=self._label_choices, nullable=True, value=None)
        self.moving_labels = ComboBox(label="moving labels", choices=self._label_choices, nullable=True, value=None)
        self.method = ComboBox(
            label="method",
            choices=["instance optimisation", "shipped WiNet", "WiNet + optimisation"],
            value="instance optimisation",
        )
        from medwave.registration.api import DEFAULT_ITERATIONS, DEFAULT_SMOOTHNESS  # the API's defaults

        self.iterations = SpinBox(label="iterations", value=DEFAULT_ITERATIONS, min=0, max=5000, step=10)
        self.smoothness = FloatSpinBox(label="smoothness", value=DEFAULT_SMOOTHNESS, min=0.0, max=100.0, step=0.1)
        self.diffeomorphic = CheckBox(label="diffeomorphic", value=True)
        self.affine = CheckBox(label="affine pre-alignment", value=False)
        self.grid_spacing = SpinBox(label="grid spacing", value=6, min=2, max=64)
        self.tile = SpinBox(label="checkerboard tile", value=12, min=2, max=128)
        self.run_btn = PushButton(text="Register")
        self.run_btn.changed.connect(self.run)
        self.metrics_label = read_only_text(height=110)
        self.result: Optional[Any] = None
        self.extend([
            self.fixed, self.moving, self.fixed_labels, self.moving_labels, self.method, self.iterations,
            self.smoothness, self.diffeomorphic, self.affine, self.grid_spacing, self.tile, self.run_btn,
        ])
        self._finish_layout()
        self.append(self.metrics_label)
        for ev in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            ev.connect(self._refresh)
        self._refresh()

    def _image_choices(self, *_: Any) -> list:
        return [(l.name, l) for l in self.viewer.layers if isinstance(l, self._img_cls) and l.data.ndim == 3]

    def _label_choices(self, *_: Any) -> list:
        return [(l.name, l) for l in self.viewer.layers if isinstance(l, self._lab_cls) and l.data.ndim == 3]

    def _refresh(self, *_: Any) -> None:
        for w in (self.fixed, self.moving, self.fixed_labels, self.moving_labels):
            w.reset_choices()
        imgs = self._image_choices()
        if len(imgs) >= 2 and self.fixed.value is self.moving.value:
            self.fixed.value, self.moving.value = imgs[0][1], imgs[1][1]

    def run(self, *_: Any) -> Any:
        """Start the registration (returns the worker)."""
        import medwave

        fixed_l, moving_l = self.fixed.value, self.moving.value
        if fixed_l is None or moving_l is None:
            self.set_status("Open a fixed and a moving 3D image first (File > Open Sample > medwave > MNI152 pair).")
            return None
        if fixed_l is moving_l:
            self.set_status("Choose two different layers for fixed and moving.")
            return None
        fixed, moving = _as_image(fixed_l), _as_image(moving_l)
        fseg = _as_image(self.fixed_labels.value) if self.fixed_labels.value is not None else None
        mseg = _as_image(self.moving_labels.value) if self.moving_labels.value is not None else None
        method = self.method.value
        kwargs = dict(
            weights="default" if method != "instance optimisation" else None,
            optimize=method != "shipped WiNet",
            iterations=int(self.iterations.value),
            smoothness=float(self.smoothness.value),
            diffeomorphic=bool(self.diffeomorphic.value),
            affine=bool(self.affine.value),
            fixed_seg=fseg,
            moving_seg=mseg,
            progress=False,
        )
        names = (fixed_l.name, moving_l.name, getattr(self.moving_labels.value, "name", None))
        fixed_kw = layer_transform_kwargs(fixed_l)
        fixed_meta = dict(fixed_l.metadata)
        spacing, tile = int(self.grid_spacing.value), int(self.tile.value)

        def job():
            yield 0
            res = medwave.register(fixed, moving, **kwargs)
            yield 1
            ddf = np.asarray(res.ddf.array, dtype=np.float32)
            extras = {
                "grid": views.deformed_grid(ddf, spacing=spacing),
                "vectors": views.displacement_vectors(ddf, step=spacing),
                "before": views.checkerboard(np.asarray(fixed.array), _on_fixed(moving, fixed), tile),
                "after": views.checkerboard(np.asarray(fixed.array), np.asarray(res.warped.array), tile),
            }
            yield 2
            return res, extras

        def done(out: tuple) -> None:
            self._show(out[0], out[1], names, fixed_kw, fixed_meta)

        return self.start(job, done, total=0, desc=f"Registering {moving_l.name} to {fixed_l.name}",
                          buttons=(self.run_btn,))

    def _show(self, res: Any, extras: dict, names: tuple, fixed_kw: dict, fixed_meta: dict) -> None:
        fixed_name, moving_name, mlab_name = names
        self.result = res
        m = dict(res.metrics)
        meta_common = {"registration_metrics": m}
        # results live on the fixed grid: reuse its transform and NIfTI record (so saving keeps its affine)
        rec = fixed_meta.get("medwave")
        base_meta = {"medwave": rec} if rec is not None else {}
        v = self.viewer
        add = v.add_image

        def lay(a: Any) -> Any:  # x-first arrays on the fixed grid, in the fixed layer's axis order
            return to_layer_order(np.asarray(a), fixed_meta)

        add(lay(res.warped.array), name=f"{moving_name} warped", colormap="magenta", blending="additive",
            metadata={**base_meta, **meta_common}, **fixed_kw)
        add(lay(extras["before"]), name="checkerboard before", colormap="gray", visible=False,
            contrast_limits=(0.0, 1.0), metadata={**base_meta, **meta_common}, **fixed_kw)
        add(lay(extras["after"]), name="checkerboard after", colormap="gray", visible=False,
            contrast_limits=(0.0, 1.0), metadata={**base_meta, **meta_common}, **fixed_kw)
        add(lay(res.jacdet.array), name="Jacobian determinant", colormap="bwr", contrast_limits=(0.0, 2.0),
            opacity=0.6, visible=False, metadata={**base_meta, **meta_common}, **fixed_kw)
        add(lay(extras["grid"]), name="deformed grid", colormap="yellow", blending="additive", opacity=0.7,
            contrast_limits=(0.0, 1.0), metadata={**base_meta, **meta_common}, **fixed_kw)
        vec, length = extras["vectors"]
        if len(vec):
            v.add_vectors(to_layer_order(vec, fixed_meta, points=True), name="displacement",
                          features={"length": length}, edge_color="length",
                          edge_colormap="turbo", edge_width=0.3, vector_style="arrow", visible=False,
                          metadata=dict(meta_common),
                          **{k: fixed_kw[k] for k in ("scale", "translate", "affine") if k in fixed_kw})
        if res.warped_seg is not None:
            v.add_labels(lay(res.warped_seg.array), name=f"{mlab_name} warped", opacity=0.5, visible=False,
                         metadata={**base_meta, **meta_common},
                         **{k: fixed_kw[k] for k in ("scale", "translate", "affine") if k in fixed_kw})
        self.metrics_label.value = format_metrics(m)


def _on_fixed(moving: Any, fixed: Any) -> np.ndarray:
    """The moving image on the fixed grid (as register does before deforming), for the 'before' view."""
    if moving.array.shape[:3] == fixed.array.shape[:3] and np.allclose(moving.affine, fixed.affine, atol=1e-4):
        return np.asarray(moving.array, dtype=np.float32)
    from medwave.io import resample_to_reference

    return np.asarray(resample_to_reference(moving, fixed, order=1).array, dtype=np.float32)
