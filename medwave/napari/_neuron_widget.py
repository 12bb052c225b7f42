"""Neurons widget: a (Z, Y, X) stack -> :func:`medwave.segment_neurons` -> probability, labels, skeleton."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSlider, FloatSpinBox, PushButton, SpinBox

from medwave.napari._common import WorkerWidget, layer_transform_kwargs, read_only_text
from medwave.napari._swc import swc_to_layer_data

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["NeuronWidget", "cube_grid_labels"]


def cube_grid_labels(shape: Sequence[int], cube: Sequence[int], overlap: float) -> np.ndarray:
    """A label image of the cube partition: voxel -> 1 + index of the last cube starting at or before it.

    Shown with contours it draws the cube boundaries of :func:`medwave.neuron.cubes.partition` in any
    slicing orientation (cubes overlap; each boundary is drawn where a cube starts).
    """
    from medwave.neuron.cubes import axis_starts

    idx = []
    for n, c in zip(shape, cube):
        starts = np.asarray(axis_starts(int(n), int(min(c, n)), float(overlap)))
        idx.append(np.searchsorted(starts, np.arange(n), side="right") - 1)
    counts = [int(i.max()) + 1 for i in idx]
    lab = (idx[0][:, None, None] * counts[1] + idx[1][None, :, None]) * counts[2] + idx[2][None, None, :]
    return (lab + 1).astype(np.int32)


class NeuronWidget(WorkerWidget):
    """Segment and trace neurons in a light-microscopy stack with :func:`medwave.segment_neurons`.

    Adds ``<stack> probability`` (foreground probability, magma), ``<stack> fibres`` (labels: the mask's
    connected fragments), ``<stack> traced nodes`` / ``<stack> traced skeleton`` (the traced SWC; save
    the nodes layer as ``.swc``), and a ``cube grid`` (outlines of the cubes the 3D-WaveUNet saw,
    toggled by *show cube grid*). Cancel discards the result of the running call.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        from napari.layers import Image

        super().__init__(napari_viewer, labels=True)
        self._img_cls = Image
        self.image = ComboBox(label="stack", choices=self._image_choices, nullable=False)
        self.weights = FileEdit(label="weights", mode="r", filter="*.pt", value="",
                                tooltip="A model.pt from `medwave train-neurons`; empty: the shipped model.")
        #: For scripts and tests: a ``torch.nn.Module`` used instead of the weights file when set.
        self.model: Optional[Any] = None
        self.cube_z = SpinBox(label="cube z", value=32, min=4, max=512)
        self.cube_y = SpinBox(label="cube y", value=128, min=4, max=1024)
        self.cube_x = SpinBox(label="cube x", value=128, min=4, max=1024)
        self.overlap = FloatSpinBox(label="overlap", value=0.25, min=0.0, max=0.75, step=0.05)
        self.threshold = FloatSlider(label="threshold", value=0.5, min=0.01, max=0.99, step=0.01)
        self.trace = CheckBox(label="trace skeleton", value=True)
        self.show_cubes = CheckBox(label="show cube grid", value=True)
        self.show_cubes.changed.connect(self._toggle_cubes)
        self.run_btn = PushButton(text="Segment")
        self.run_btn.changed.connect(self.run)
        self.summary = read_only_text(height=110)
        self.result: Optional[Any] = None
        self.extend([self.image, self.weights, self.cube_z, self.cube_y, self.cube_x, self.overlap, self.threshold, self.trace,
                     self.show_cubes, self.run_btn])
        self._finish_layout()
        self.append(self.summary)
        for ev in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            ev.connect(lambda *_: self.image.reset_choices())

    def _image_choices(self, *_: Any) -> list:
        return [(l.name, l) for l in self.viewer.layers if isinstance(l, self._img_cls) and l.data.ndim == 3
                and not l.rgb]

    def _toggle_cubes(self, value: bool) -> None:
        for layer in self.viewer.layers:
            if (layer.metadata or {}).get("medwave_cube_grid"):
                layer.visible = bool(value)

    def run(self, *_: Any) -> Any:
        """Start segmenting the chosen stack (returns the worker)."""
        import medwave

        layer = self.image.value
        if layer is None:
            self.set_status("Open a 3D stack first (File > Open Sample > medwave > Synthetic neuron stack).")
            return None
        data = layer.data
        cube = (int(self.cube_z.value), int(self.cube_y.value), int(self.cube_x.value))
        cube = tuple(min(c, n) for c, n in zip(cube, data.shape))
        overlap, threshold, trace = float(self.overlap.value), float(self.threshold.value), bool(self.trace.value)
        name, kw = layer.name, layer_transform_kwargs(layer)
        weights = self.model
        if weights is None:
            path = str(self.weights.value or "").strip()
            weights = path if path not in ("", ".") else None

        def job():
            yield 0
            res = medwave.segment_neurons(data, weights=weights, cube=cube, overlap=overlap, threshold=threshold,
                                          trace=trace, progress=False, swc_units="voxel")
            yield 1
            from scipy import ndimage as ndi

            fibres, n = ndi.label(np.asarray(res.mask, dtype=bool), structure=np.ones((3, 3, 3)))
            return res, fibres.astype(np.int32), n, cube_grid_labels(data.shape, cube, overlap)

        def done(out: tuple) -> None:
            self._show(*out, name=name, kw=kw, cube=cube)

        return self.start(job, done, total=0, desc=f"Segmenting neurons in {name}", buttons=(self.run_btn,))

    def _show(self, res: Any, fibres: np.ndarray, n_fragments: int, cubes: np.ndarray, *, name: str, kw: dict,
              cube: tuple) -> None:
        self.result = res
        v = self.viewer
        geo = {k: kw[k] for k in ("scale", "translate", "affine", "axis_labels", "units") if k in kw}
        info = {"normalization": tuple(map(float, res.normalization)), "n_cubes": int(res.n_cubes),
                "seconds": float(res.seconds), "cube": cube}
        v.add_image(np.asarray(res.probability), name=f"{name} probability", colormap="magma", blending="additive",
                    contrast_limits=(0.0, 1.0), metadata={"segment_neurons": info}, **geo)
        v.add_labels(fibres, name=f"{name} fibres", opacity=0.5, metadata={"segment_neurons": info}, **geo)
        grid = v.add_labels(cubes, name="cube grid", opacity=0.6, visible=bool(self.show_cubes.value),
                            metadata={"medwave_cube_grid": True, "cube": cube}, **geo)
        grid.contour = 1
        n_nodes = 0
        if res.swc is not None and len(res.swc):
            n_nodes = len(res.swc)
            for data, lkw, kind in swc_to_layer_data(res.swc, name=f"{name} traced", scale=kw["scale"],
                                                     translate=kw["translate"], coords_in_voxels=True,
                                                     color="#ffd400"):
                getattr(v, f"add_{kind}")(data, **lkw)
        self.summary.value = (
            f"{res.n_cubes} cubes, {n_fragments} fibre fragments, {int(np.count_nonzero(fibres))} voxels, "
            f"{n_nodes} traced nodes" + (f" in {res.swc.n_trees()} trees" if res.swc is not None and n_nodes else "")
            + f"; {res.seconds:.1f} s"
        )
