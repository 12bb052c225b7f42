"""Apply-transform widget: a saved transform folder + an image/labels layer -> :func:`medwave.apply_transform`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, PushButton

from medwave.napari._common import WorkerWidget
from medwave.napari._layers import image_to_layer_data, layer_to_image
from medwave.napari._transform import TRANSFORM_KEY, is_transform_folder

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["ApplyTransformWidget"]


class ApplyTransformWidget(WorkerWidget):
    """Apply a saved transform folder to an image or labels layer with :func:`medwave.apply_transform`.

    Forward: a layer of the moving space goes onto the fixed grid; inverse: a fixed-space layer onto the moving
    grid. Labels layers use the label interpolation (one-hot, linear, arg-max) unless told otherwise.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        from napari.layers import Image, Labels

        super().__init__(napari_viewer, labels=True)
        self._kinds = (Image, Labels)
        self._lab_cls = Labels
        self.folder = FileEdit(label="transform folder", mode="d")
        self.layer = ComboBox(label="layer", choices=self._choices, nullable=False)
        self.inverse = CheckBox(label="inverse (fixed -> moving)", value=False)
        self.interpolation = ComboBox(label="interpolation", choices=["auto", "linear", "nearest", "label"],
                                      value="auto")
        self.run_btn = PushButton(text="Apply")
        self.run_btn.changed.connect(self.run)
        self.result: Optional[Any] = None
        self.extend([self.folder, self.layer, self.inverse, self.interpolation, self.run_btn])
        self._finish_layout()
        for ev in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            ev.connect(lambda *_: self.layer.reset_choices())
        # a transform folder opened in the viewer fills in the folder
        for l in napari_viewer.layers:
            if TRANSFORM_KEY in l.metadata:
                self.folder.value = l.metadata[TRANSFORM_KEY]

    def _choices(self, *_: Any) -> list:
        return [(l.name, l) for l in self.viewer.layers if isinstance(l, self._kinds) and l.data.ndim == 3]

    def run(self, *_: Any) -> Any:
        """Start applying the transform (returns the worker)."""
        import medwave

        layer = self.layer.value
        folder = str(self.folder.value or "")
        if layer is None:
            self.set_status("Open an image or labels layer to move first.")
            return None
        if not folder or not is_transform_folder(folder):
            self.set_status(f"{folder or 'No folder'}: not a transform folder; choose the folder `medwave register` "
                            "(or the Registration widget's save) wrote.")
            return None
        is_labels = isinstance(layer, self._lab_cls)
        interp = self.interpolation.value
        if interp == "auto":
            interp = "label" if is_labels else "linear"
        data, attrs, _ = layer.as_layer_data_tuple()
        image = layer_to_image(data, attrs)
        inverse = bool(self.inverse.value)
        name = f"{layer.name} {'inverse ' if inverse else ''}transformed"

        def job():
            yield 0
            return medwave.apply_transform(folder, image, inverse=inverse, interpolation=interp)

        def done(out: Any) -> None:
            self.result = out
            d, kw, _ = image_to_layer_data(out, name=name)
            kw["metadata"][TRANSFORM_KEY] = folder
            if is_labels or (interp in ("label", "nearest") and np.issubdtype(out.array.dtype, np.integer)):
                self.viewer.add_labels(d, **{k: v for k, v in kw.items() if k in
                                             ("name", "scale", "translate", "affine", "metadata", "axis_labels")})
            else:
                self.viewer.add_image(d, **kw)

        return self.start(job, done, total=0, desc=f"Applying {Path(folder).name} to {layer.name}",
                          buttons=(self.run_btn,))
