"""What a checkpoint holds, how it is read back, and the random-number states it carries.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (no pickled objects), so
``torch.load(weights_only=True)`` reads it. Restoring it, together with an epoch order that depends
only on ``(seed, epoch)``, makes a resumed run end with exactly the weights of an uninterrupted one
(on the CPU).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["build_checkpoint", "load_checkpoint", "rng_state", "seed_everything", "set_rng_state"]

CHECKPOINT_FORMAT = 1
_REQUIRED_KEYS = frozenset(
    {"model", "optimizer", "scheduler", "rng", "epoch", "step", "seed", "history"}
)


# -------------------------------------------------------------------------------------- RNG states


def rng_state() -> dict[str, Any]:
    """RNG states of torch, numpy's global generator and ``random``, as tensors, lists and numbers.

    Kept free of pickled objects so that ``torch.load(weights_only=True)`` reads them back.

    Examples
    --------
    >>> state = rng_state()
    >>> a = (torch.rand(1).item(), np.random.rand(), random.random())
    >>> set_rng_state(state)
    >>> a == (torch.rand(1).item(), np.random.rand(), random.random())
    True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    version, py_state, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "state": list(py_state), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the states returned by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["state"]), py_state["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's global generator and ``random`` with ``seed``."""
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator is what user code reaches for
    random.seed(seed)


# ------------------------------------------------------------------------------------- checkpoints


def build_checkpoint(
    *,
    epoch: int,
    step: int,
    seed: int,
    config: Mapping[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    history: Sequence[Mapping[str, Any]],
    callbacks: Sequence[Any],
) -> dict[str, Any]:
    """The checkpoint dict of a run after ``epoch`` finished epochs and ``step`` optimizer steps.

    Parameters
    ----------
    config : Mapping
        The training settings (``dataclasses.asdict`` of the ``TrainConfig``), compared on resume.
    scheduler : torch.optim.lr_scheduler.LRScheduler
    callbacks : sequence
        Each callback's ``state_dict()`` or ``None`` (see :meth:`Hooks.state_dicts
        <wiring.train.hooks.Hooks.state_dicts>`).

    Returns
    -------
    dict
        ``format``, ``epoch``, ``step``, ``seed``, ``config``, ``model``, ``optimizer``,
        ``scheduler``, ``rng`` (:func:`rng_state`, taken now), ``history``, ``callbacks``.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "step": int(step),
        "seed": seed,
        "config": dict(config),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "history": list(history),
        "callbacks": list(callbacks),
    }


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a ``checkpoint.pt`` written by :class:`~wiring.train.Trainer` (never unpickles objects).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    map_location : str or torch.device, optional
        Where tensors are put (default the CPU).

    Returns
    -------
    dict
        Keys ``model``, ``optimizer``, ``scheduler`` (state dicts), ``rng``, ``epoch`` (finished
        epochs), ``step`` (optimizer steps taken), ``seed``, ``config`` and ``history``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {str(path)!r}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which file and why
        raise ValueError(f"path: {str(path)!r} is not a readable checkpoint ({err})") from err
    if not isinstance(checkpoint, dict) or not _REQUIRED_KEYS <= set(checkpoint):
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(
            f"path: {str(path)!r} is not a wiring checkpoint: expected keys "
            f"{sorted(_REQUIRED_KEYS)}, found {found}"
        )
    return checkpoint


def check_same_run(checkpoint: Mapping[str, Any], config: Mapping[str, Any], seed: int) -> None:
    """Refuse to resume with other settings than those the checkpoint was written with.

    ``progress`` may differ; any other field of ``config`` that the checkpoint stores, and the seed,
    must be equal.

    Raises
    ------
    ValueError
        Naming every differing setting with both values.
    """
    stored = dict(checkpoint.get("config") or {})
    differing = [
        f"{key} (checkpoint {stored.get(key)!r}, now {value!r})"
        for key, value in config.items()
        if key != "progress" and key in stored and stored[key] != value
    ]
    if checkpoint["seed"] != seed:
        differing.append(f"seed (checkpoint {checkpoint['seed']!r}, now {seed!r})")
    if differing:
        raise ValueError(
            "resume: the run was started with a different configuration: "
            + "; ".join(differing)
            + ". Resume with the same settings, or start a new run in another directory"
        )
