"""Dask worker plugin that warms a worker once: imports the batch task's modules when the worker starts.

Imported only when a Dask run starts (it imports ``distributed``). A worker keeps its imports and cached
models for every item it runs (:func:`medwave.batch.tasks.cached_model`), so only worker start-up pays them.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["WarmWorkers"]


class WarmWorkers(WorkerPlugin):
    """Run :func:`medwave.batch.tasks.warm_task` on every worker (also on workers that join or restart later).

    Args:
        task: The batch task name (``"register"``, ``"denoise"``, ...).
    """

    def __init__(self, task: str) -> None:
        self.task = task
        self.name = f"medwave-warm-{task}"

    def setup(self, worker) -> None:
        """Import the task's modules in this worker process."""
        from medwave.batch.tasks import warm_task

        warm_task(self.task)
