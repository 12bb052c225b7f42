"""Shared widget plumbing: run a generator in a napari ``thread_worker`` with progress and Cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generator, Optional

from magicgui.widgets import Container, PushButton, TextEdit

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["WorkerWidget", "layer_transform_kwargs", "read_only_text"]


def read_only_text(height: int = 56) -> TextEdit:
    """A read-only, wrapping text box for status lines and results (grows neither the dock nor the layout)."""
    box = TextEdit(value="")
    box.native.setReadOnly(True)
    box.native.setMaximumHeight(height)
    box.native.setFrameStyle(0)
    box.native.setStyleSheet("background: transparent;")
    return box


def layer_transform_kwargs(layer: Any) -> dict[str, Any]:
    """``scale``/``translate``/``affine``/``units``/``axis_labels`` of a layer, to put a result on its grid."""
    kw: dict[str, Any] = {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "affine": layer.affine.affine_matrix,
    }
    units = getattr(layer, "units", None)
    if units is not None:
        kw["units"] = tuple(str(u) for u in units)
    labels = getattr(layer, "axis_labels", None)
    if labels is not None:
        kw["axis_labels"] = tuple(labels)
    return kw


class WorkerWidget(Container):
    """A magicgui container that runs one job at a time in a ``thread_worker``.

    Subclasses build their controls, then call :meth:`start` with a generator function (it yields once
    per step, napari shows the progress in its activity dock) and a callback that puts the result in the
    viewer on the main thread. The Cancel button asks the worker to stop at its next yield.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._viewer = napari_viewer
        self.worker: Optional[Any] = None
        #: True from :meth:`start` until the job's results (or error) have been handled.
        self.busy = False
        self.last_error: Optional[BaseException] = None
        self._cancel_btn = PushButton(text="Cancel", enabled=False)
        self._cancel_btn.changed.connect(self.cancel)
        self._status = read_only_text(height=56)

    def _finish_layout(self) -> None:
        self.extend([self._cancel_btn, self._status])

    @property
    def viewer(self) -> "napari.viewer.Viewer":
        return self._viewer

    def set_status(self, text: str) -> None:
        self._status.value = text

    @property
    def status(self) -> str:
        return str(self._status.value)

    def start(
        self,
        job: Callable[[], Generator[Any, None, Any]],
        on_done: Callable[[Any], None],
        *,
        total: int,
        desc: str,
        buttons: tuple = (),
    ) -> Any:
        """Run ``job()`` in a worker thread with napari progress; ``on_done(result)`` on the main thread.

        ``total`` is the number of yields of the job (0: an indeterminate busy bar).
        """
        from napari.qt.threading import thread_worker

        if self.busy:
            self.set_status("Busy: wait for the running job or press Cancel.")
            return self.worker
        self.last_error = None
        # Errors reach napari's notifications through its worker class and this widget's status line;
        # ignore_errors only stops superqt from re-raising them a second time in the event loop.
        worker = thread_worker(
            job, progress={"total": max(int(total), 0), "desc": desc}, ignore_errors=True, start_thread=False
        )()
        self.worker = worker
        for b in buttons:
            b.enabled = False
        self._cancel_btn.enabled = True
        self.busy = True
        self.set_status(f"{desc}...")

        def _returned(result: Any) -> None:
            try:
                on_done(result)
                self.set_status(f"{desc}: done.")
            except Exception as exc:  # shown in the widget, then re-raised for napari's notification
                self._error(exc)
                raise

        def _errored(exc: BaseException) -> None:
            self._error(exc)

        def _aborted() -> None:
            self.set_status(f"{desc}: cancelled.")

        def _finished() -> None:
            for b in buttons:
                b.enabled = True
            self._cancel_btn.enabled = False
            self.busy = False

        worker.returned.connect(_returned)
        worker.errored.connect(_errored)
        worker.aborted.connect(_aborted)
        worker.finished.connect(_finished)
        worker.start()
        return worker

    def _error(self, exc: BaseException) -> None:
        self.last_error = exc
        self.set_status(f"Error: {exc}")

    def cancel(self, *_: Any) -> None:
        """Ask the running job to stop at its next step."""
        if self.worker is not None and self.worker.is_running:
            self.worker.quit()
            self.set_status("Cancelling...")
