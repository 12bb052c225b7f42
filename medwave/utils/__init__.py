"""Small shared utilities (atomic writes, progress)."""

from medwave.utils.atomic import atomic_path, atomic_write_bytes, check_output_path
from medwave.utils.progress import progress_bar

__all__ = ["atomic_path", "atomic_write_bytes", "check_output_path", "progress_bar"]
