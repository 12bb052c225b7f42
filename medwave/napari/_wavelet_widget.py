"""Wavelet widget: decompose an image layer into subbands and reconstruct it (edited or not)."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, PushButton, SpinBox

from medwave.napari import _wavelet as core
from medwave.napari._common import WorkerWidget, layer_transform_kwargs

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["WaveletWidget", "WAVELET_KEY"]

#: Key of the decomposition record in band layers' metadata.
WAVELET_KEY = "medwave_wavelet"


def _spatial_dims(layer: Any) -> int:
    meta = (layer.metadata or {}).get("medwave") or {}
    if "n_lead" in meta:
        return int(layer.data.ndim - meta["n_lead"])
    if getattr(layer, "rgb", False):
        raise ValueError(f"Layer {layer.name!r} is RGB; split its channels first (right click > Split RGB).")
    return min(layer.data.ndim, 3)


def _detail_colormap():
    """Diverging magenta-black-green map: zero detail is black, so empty background stays dark."""
    from napari.utils.colormaps import Colormap

    return Colormap([[1.0, 0.2, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0], [0.2, 1.0, 0.2, 1.0]], name="medwave_detail",
                    display_name="detail (- magenta, + green)")


class WaveletWidget(WorkerWidget):
    """Decompose the chosen image layer with :mod:`medwave.wavelets` and put it back together.

    *Decompose* adds the subbands, either one layer per band (named ``<image> L<level> <key>``, e.g.
    ``brain L1 aad``, placed over the image at their own resolution; *grid view* shows them side by side)
    or one tiled layer in PyWavelets' ``coeffs_to_array`` layout. Band layers may be edited (painted,
    zeroed, deleted = all zero). *Reconstruct* inverts the chosen decomposition into
    ``<image> reconstructed`` on the source's grid (metadata copied, so it saves with the source's affine).
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        from napari.layers import Image

        from medwave.wavelets import DISCRETE_WAVELETS, MODES

        super().__init__(napari_viewer, labels=True)
        self._image_cls = Image
        self.image = ComboBox(label="image", choices=self._image_choices, nullable=False)
        self.wavelet = ComboBox(label="wavelet", choices=list(DISCRETE_WAVELETS), value="haar")
        self.mode = ComboBox(label="mode", choices=list(MODES), value="symmetric")
        self.level = SpinBox(label="levels", value=1, min=1, max=8)
        self.layout_choice = ComboBox(label="output", choices=["one layer per band", "tiled"], value="one layer per band")
        self.grid = CheckBox(label="grid view", value=True)
        self.decompose_btn = PushButton(text="Decompose")
        self.decomposition = ComboBox(label="decomposition", choices=self._group_choices, nullable=True)
        self.reconstruct_btn = PushButton(text="Reconstruct")
        self.decompose_btn.changed.connect(self.decompose)
        self.reconstruct_btn.changed.connect(self.reconstruct)
        self.extend(
            [
                self.image,
                self.wavelet,
                self.mode,
                self.level,
                self.layout_choice,
                self.grid,
                self.decompose_btn,
                self.decomposition,
                self.reconstruct_btn,
            ]
        )
        self._finish_layout()
        ev = napari_viewer.layers.events
        ev.inserted.connect(self._refresh)
        ev.removed.connect(self._refresh)
        ev.reordered.connect(self._refresh)
        self._refresh()

    # -- choices -------------------------------------------------------------------------------------
    def _image_choices(self, *_: Any) -> list:
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, self._image_cls) and WAVELET_KEY not in (layer.metadata or {})
        ]

    def _group_choices(self, *_: Any) -> list:
        seen: dict[str, str] = {}
        for layer in self.viewer.layers:
            rec = (layer.metadata or {}).get(WAVELET_KEY)
            if rec and rec["group"] not in seen:
                seen[rec["group"]] = f"{rec['source']} ({rec['wavelet']}, {rec['levels']} levels, {rec['layout']})"
        return [(label, gid) for gid, label in seen.items()]

    def _refresh(self, *_: Any) -> None:
        self.image.reset_choices()
        self.decomposition.reset_choices()
        if self.decomposition.value is None and self.decomposition.choices:
            self.decomposition.value = self.decomposition.choices[-1]

    # -- decompose -------------------------------------------------------------------------------------
    def decompose(self, *_: Any) -> Any:
        """Start decomposing the chosen image (returns the worker)."""
        layer = self.image.value
        if layer is None:
            self.set_status("Open or choose an image layer first.")
            return None
        d = _spatial_dims(layer)
        data = np.asarray(layer.data)
        wavelet, mode, levels = str(self.wavelet.value), str(self.mode.value), int(self.level.value)
        layout = "tiled" if self.layout_choice.value == "tiled" else "bands"
        source_kw = layer_transform_kwargs(layer)
        source_name = layer.name
        source_meta = copy.copy(layer.metadata)

        def job():
            return (yield from core.decompose(data, wavelet, mode=mode, level=levels, spatial_dims=d))

        def done(coeffs: list) -> None:
            self._add_bands(coeffs, source_name, source_kw, source_meta, data.shape, d, wavelet, mode, layout)

        return self.start(job, done, total=levels, desc=f"Wavelet decomposition of {source_name}",
                          buttons=(self.decompose_btn, self.reconstruct_btn))

    def _add_bands(
        self, coeffs: list, source: str, source_kw: dict, source_meta: dict, shape: tuple, d: int,
        wavelet: str, mode: str, layout: str,
    ) -> None:
        gid = uuid.uuid4().hex[:8]
        levels = len(coeffs) - 1
        base = {"group": gid, "source": source, "wavelet": wavelet, "mode": mode, "levels": levels,
                "shape": tuple(shape), "spatial_dims": d, "layout": layout,
                "source_kw": source_kw, "source_metadata": source_meta}
        details = [v for det in coeffs[1:] for v in det.values()]
        spread = float(np.percentile(np.abs(np.concatenate([np.ravel(v) for v in details])), 99.5)) if details else 1.0
        spread = spread or 1.0
        cmap = _detail_colormap()
        if layout == "tiled":
            arr, slices = core.to_tiled(coeffs, d)
            meta = {WAVELET_KEY: dict(base, role="tiled", slices=slices)}
            self.viewer.add_image(arr, name=f"{source} {wavelet} tiled", metadata=meta, colormap="gray",
                                  contrast_limits=(-spread, spread), scale=source_kw["scale"])
            self.viewer.grid.enabled = False
            self.viewer.reset_view()
            self._refresh()
            return
        new = []
        a = coeffs[0]
        lo, hi = float(np.min(a)), float(np.max(a))
        scale, translate = core.band_placement(levels, wavelet, source_kw["scale"], source_kw["translate"], d)
        new.append(self.viewer.add_image(
            a, name=f"{source} L{levels} {'a' * d}", colormap="gray", contrast_limits=(lo, hi if hi > lo else lo + 1),
            metadata={WAVELET_KEY: dict(base, role="band", level=levels, key="a" * d)},
            scale=scale, translate=translate, affine=source_kw["affine"],
        ))
        for i, det in enumerate(coeffs[1:]):
            lev = levels - i
            scale, translate = core.band_placement(lev, wavelet, source_kw["scale"], source_kw["translate"], d)
            for key, v in det.items():
                band_spread = float(np.percentile(np.abs(v), 99.5)) or spread
                new.append(self.viewer.add_image(
                    v, name=f"{source} L{lev} {key}", colormap=cmap, contrast_limits=(-band_spread, band_spread),
                    metadata={WAVELET_KEY: dict(base, role="band", level=lev, key=key)},
                    scale=scale, translate=translate, affine=source_kw["affine"],
                ))
        if self.grid.value:
            self.viewer.grid.enabled = True
            self.viewer.grid.stride = 1
        self.viewer.layers.selection.active = new[0]
        self.viewer.reset_view()
        self._refresh()

    # -- reconstruct -----------------------------------------------------------------------------------
    def _group_layers(self, gid: str) -> list:
        return [l for l in self.viewer.layers if ((l.metadata or {}).get(WAVELET_KEY) or {}).get("group") == gid]

    def reconstruct(self, *_: Any) -> Any:
        """Start reconstructing the chosen decomposition from its (possibly edited) layers."""
        gid = self.decomposition.value
        layers = self._group_layers(gid) if gid else []
        if not layers:
            self.set_status("Decompose an image first (or choose a decomposition).")
            return None
        rec = layers[0].metadata[WAVELET_KEY]
        d, levels = rec["spatial_dims"], rec["levels"]
        if rec["layout"] == "tiled":
            coeffs = core.from_tiled(np.asarray(layers[0].data), rec["slices"])
        else:
            bands = {(l.metadata[WAVELET_KEY]["level"], l.metadata[WAVELET_KEY]["key"]): np.asarray(l.data)
                     for l in layers}
            approx = bands.get((levels, "a" * d))
            if approx is None:
                self.set_status(f"The approximation layer {rec['source']} L{levels} {'a' * d} was deleted; "
                                "decompose again.")
                return None
            from medwave.wavelets import subband_keys

            # A deleted band (or a whole deleted level) counts as zeros, as in pywt.waverecn.
            coeffs = [approx] + [
                {k: bands.get((lev, k)) for k in subband_keys(d)[1:]} for lev in range(levels, 0, -1)
            ]
        wavelet, mode, shape = rec["wavelet"], rec["mode"], rec["shape"]
        name = f"{rec['source']} reconstructed"
        source_kw, source_meta = rec["source_kw"], rec["source_metadata"]

        def job():
            return (yield from core.reconstruct(coeffs, wavelet, mode=mode, shape=shape))

        def done(out: np.ndarray) -> None:
            kw = dict(source_kw)
            self.viewer.add_image(out, name=name, metadata=copy.copy(source_meta), colormap="gray", **kw)
            self.viewer.grid.enabled = False
            self.viewer.reset_view()

        return self.start(job, done, total=levels, desc=f"Wavelet reconstruction of {rec['source']}",
                          buttons=(self.decompose_btn, self.reconstruct_btn))
