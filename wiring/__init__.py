"""neural-wiring: the wiring of a neural network as a first-class object.

The road every feature travels::

    generators / load  ->  NeuralGraph  --compile-->  nn.Module  --train/evolve-->  model.graph()  ->  analysis

``wiring.NeuralGraph`` and ``wiring.generators`` need numpy only; ``wiring.compile``,
``wiring.sparsify``, ``wiring.sites``, ``wiring.densify``, ``wiring.register_selection``,
``wiring.count`` (parameters and multiply-adds that see masks and dead nodes) and ``wiring.export``
(compacted inference modules) import torch on first use, so ``import wiring`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wiring.graph import HasGraph, NeuralGraph

__all__ = [
    "HasGraph",
    "NeuralGraph",
    "compile",
    "count",
    "densify",
    "export",
    "generators",
    "register_selection",
    "sites",
    "sparsify",
]
__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from wiring.nn import compile, densify, register_selection, sites, sparsify
    from wiring.nn.count import count
    from wiring.nn.export import export

# Top-level names that live in wiring.nn (imported lazily: they need torch).
_NN_NAMES = {"compile", "sparsify", "sites", "densify", "register_selection"}


def __getattr__(name: str) -> Any:
    # torch is imported lazily: the graph layer and analysis must work without it.
    if name in _NN_NAMES:
        import wiring.nn

        return getattr(wiring.nn, name)
    if name == "count":
        from wiring.nn.count import count as _count

        return _count
    if name == "export":
        from wiring.nn.export import export as _export

        return _export
    if name in {"generators", "nn", "data", "models", "train", "analysis", "evolve"}:
        import importlib

        return importlib.import_module(f"wiring.{name}")
    raise AttributeError(f"module 'wiring' has no attribute {name!r}")
