"""One checkpoint format for every medwave network, read without unpickling anything.

A checkpoint is a ``torch.save``-d dict ``{"config", "state_dict", "meta"}``:

- ``config``: the network constructor's keyword arguments (plain str/int/float/bool/list/dict);
- ``state_dict``: the weights (tensors only);
- ``meta``: everything else a user of the weights needs (the neuron mask ``threshold``, GEM's ``image_size``,
  validation scores, training options), plain values only.

Training checkpoints that a run resumes from (``last.pt``) add a fourth entry, ``resume``: the optimiser's
``state_dict``, the step or epoch, the loss history and the RNG state, again tensors and plain values only.
Every file is read with ``torch.load(weights_only=True)``, which refuses any pickled Python object other than
tensors and plain containers, so a crafted ``--weights`` / ``last.pt`` file cannot run code: it is refused with
:class:`UnsafeCheckpointError` before anything in it is built.

Example:
    >>> import tempfile, os, torch
    >>> from medwave.networks.checkpoint import save_checkpoint, read_checkpoint
    >>> p = os.path.join(tempfile.mkdtemp(), "m.pt")
    >>> _ = save_checkpoint(p, config={"width": 2}, state_dict={"w": torch.ones(2)}, meta={"threshold": 0.4})
    >>> ck = read_checkpoint(p)
    >>> ck["config"], ck["meta"]["threshold"], sorted(ck)
    ({'width': 2}, 0.4, ['config', 'meta', 'state_dict'])
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from medwave.utils.atomic import atomic_path

__all__ = ["FORMAT", "save_checkpoint", "read_checkpoint", "load_network", "convert_legacy", "UnsafeCheckpointError",
           "CheckpointError"]

PathLike = Union[str, os.PathLike]
#: Written into ``meta["format"]``.
FORMAT = "medwave.checkpoint/1"
_KEYS = ("config", "state_dict", "meta")


class CheckpointError(ValueError):
    """The file is not a readable medwave checkpoint (exit code 2 in the CLI)."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds pickled Python objects (code could run on loading); it was refused unread."""


def save_checkpoint(path: PathLike, *, config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor],
                    meta: Optional[Mapping[str, Any]] = None, resume: Optional[Mapping[str, Any]] = None) -> Path:
    """Write a checkpoint atomically (see the module docstring for the format).

    Args:
        path: Target file.
        config: Constructor keyword arguments of the network.
        state_dict: The network's weights.
        meta: Plain metadata (``format`` is added).
        resume: Optional training state to resume from (optimiser state, step, RNG state, history).

    Returns:
        The path written.
    """
    ck: dict[str, Any] = {"config": _plain(dict(config)), "state_dict": dict(state_dict),
                          "meta": {**_plain(dict(meta or {})), "format": FORMAT}}
    if resume is not None:
        ck["resume"] = _plain(dict(resume))
    with atomic_path(path) as tmp:
        torch.save(ck, str(tmp))
    return Path(path)


def _plain(obj: Any) -> Any:
    """Tuples to lists, recursively (everything else unchanged), so the file holds only what weights_only reads."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _raw_load(path: Path, map_location: Any, what: str) -> Any:
    from medwave.io.guard import check_input_file

    check_input_file(path, what=what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Detected pickle protocol 4": the refusal below says more
            return torch.load(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        m = re.search(r"GLOBAL ([\w.]+)", text)
        from medwave.io.guard import sniff_format

        if m is None and sniff_format(path) != "pickle":
            raise CheckpointError(f"{path}: not a readable {what} (corrupt, truncated or not a PyTorch file).") from None
        # weights_only refused a global: the file holds Python objects, i.e. code that would run on loading
        detail = f"it references {m.group(1)}" if m else "a pickle stream with objects weights_only cannot read"
        raise UnsafeCheckpointError(
            f"{path}: refused: this {what} holds pickled Python objects, not only tensors ({detail}); loading "
            f"it could run code, so medwave never unpickles it and nothing in it ran. Use a checkpoint written by "
            f"medwave (tensors and plain values only)."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError, KeyError) as exc:
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, PermissionError):
            raise PermissionError(f"{path}: cannot read this {what}: permission denied. Check the file's "
                                  f"permissions (chmod u+r).") from None
        raise CheckpointError(f"{path}: not a readable {what} (corrupt, truncated or not a PyTorch file: {msg}).") from None


def read_checkpoint(path: PathLike, *, map_location: Any = "cpu", what: str = "medwave checkpoint",
                    hint: str = "") -> dict[str, Any]:
    """Read a checkpoint safely and check its layout.

    Args:
        path: The file.
        map_location: Passed to ``torch.load``.
        what: What the file should be, for messages ("WiNet checkpoint").
        hint: How to get a good file, appended to messages.

    Returns:
        ``{"config", "state_dict", "meta"}`` (and ``"resume"`` when the file has it).

    Raises:
        FileNotFoundError: No such file.
        UnsafeCheckpointError: The file holds pickled objects (refused, nothing ran).
        CheckpointError: Corrupt file or another layout (old medwave files: see :func:`convert_legacy`).
    """
    p = Path(path).expanduser()
    ck = _raw_load(p, map_location, what)
    hint = f" {hint}" if hint else ""
    if not isinstance(ck, dict) or not all(k in ck for k in _KEYS):
        found = sorted(map(str, ck)) if isinstance(ck, dict) else type(ck).__name__
        legacy = ""
        if isinstance(ck, dict) and ("model" in ck or "model_config" in ck or "state_dict" in ck):
            legacy = (" It looks like an older medwave checkpoint: convert it once with "
                      "`python -c \"from medwave.networks.checkpoint import convert_legacy as c; c('OLD.pt', 'NEW.pt')\"`.")
        raise CheckpointError(f"{p}: not a {what}: expected the entries config, state_dict and meta, found "
                              f"{found}.{legacy}{hint}")
    if not isinstance(ck["config"], dict) or not isinstance(ck["meta"], dict) or not isinstance(ck["state_dict"], dict):
        raise CheckpointError(f"{p}: not a {what}: config, state_dict and meta must be dicts.{hint}")
    bad = [k for k, v in ck["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{p}: not a {what}: state_dict entries that are not tensors: {bad[:5]}.{hint}")
    return ck


def load_network(cls: type, path: PathLike, *, map_location: Any = "cpu", what: Optional[str] = None,
                 hint: str = "") -> tuple[nn.Module, dict[str, Any]]:
    """Build ``cls(**config)``, load its weights strictly and return ``(network in eval mode, meta)``.

    Raises:
        FileNotFoundError, UnsafeCheckpointError, CheckpointError: as :func:`read_checkpoint`; CheckpointError also
            when the config does not build ``cls`` or the weights do not fit it.
    """
    what = what or f"{cls.__name__} checkpoint"
    ck = read_checkpoint(path, map_location=map_location, what=what, hint=hint)
    arch = ck["meta"].get("arch")
    if arch not in (None, cls.__name__):
        raise CheckpointError(f"{path}: this checkpoint holds a {arch}, not a {cls.__name__}.{' ' + hint if hint else ''}")
    try:
        net = cls(**ck["config"])
        net.load_state_dict(ck["state_dict"])
    except (TypeError, RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: its config/weights do not build a {cls.__name__} "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).") from None
    return net.eval(), dict(ck["meta"])


def convert_legacy(src: PathLike, dst: PathLike, *, drop_optimizer: bool = True) -> Path:
    """Convert a checkpoint of an older medwave (three dialects) to the one format; the file is read with
    ``weights_only=True`` as well, so only trusted *and* tensor-only files convert.

    - WiNet ``{"config", "state_dict", ...}`` -> meta = the other entries;
    - GEM ``{"config", "model", ...}`` -> state_dict = ``model``; meta = the other entries (``image_size``...);
    - WaveUNet / MONAI UNet ``{"model_config", "state_dict", "threshold", ...}`` -> config = ``model_config``
      without ``arch``; meta gets ``arch`` ("WaveUNet" or "UNet"), ``threshold`` and the rest.

    The optimiser state is dropped unless ``drop_optimizer=False`` (then it goes to ``resume``).
    """
    p = Path(src)
    ck = _raw_load(p, "cpu", "checkpoint")
    if not isinstance(ck, dict):
        raise CheckpointError(f"{p}: not a checkpoint dict.")
    if all(k in ck for k in _KEYS):
        return save_checkpoint(dst, config=ck["config"], state_dict=ck["state_dict"], meta=ck["meta"],
                               resume=ck.get("resume"))
    rest = dict(ck)
    resume = {}
    for key in ("optimizer", "torch_rng"):
        if key in rest:
            resume[key] = rest.pop(key)
    if "model_config" in rest:
        config = dict(rest.pop("model_config"))
        arch = config.pop("arch", "waveunet")
        state = rest.pop("state_dict")
        meta = {"arch": "UNet" if arch == "monai_unet" else "WaveUNet"}
        if "config" in rest:
            meta["train"] = rest.pop("config")
    elif "model" in rest:
        config, state, meta = rest.pop("config"), rest.pop("model"), {}
    elif "state_dict" in rest:
        config, state, meta = rest.pop("config"), rest.pop("state_dict"), {}
    else:
        raise CheckpointError(f"{p}: no state_dict/model entry; not an older medwave checkpoint.")
    rest.pop("format", None)
    meta.update(rest)
    return save_checkpoint(dst, config=config, state_dict=state, meta=meta,
                           resume=None if drop_optimizer or not resume else resume)
