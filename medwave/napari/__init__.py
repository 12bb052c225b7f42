"""medwave's napari plugin (npe2): NIfTI readers/writers, sample data and wavelet/pipeline widgets.

napari finds it through the ``napari.manifest`` entry point (``medwave.napari:napari.yaml``). Nothing
here imports Qt or napari at package import time; the widget modules do, and napari imports them only
when a widget is opened.
"""

from __future__ import annotations

__all__: list[str] = []
