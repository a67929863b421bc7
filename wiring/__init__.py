"""neural-wiring: the wiring of a neural network as a first-class object.

The road every feature travels::

    generators / load  ->  NeuralGraph  --compile-->  nn.Module  --train-->  model.graph()  ->  analysis

``wiring.NeuralGraph`` and ``wiring.generators`` need numpy only; ``wiring.compile``,
``wiring.count`` (parameters and multiply-adds that see masks and dead nodes) and ``wiring.export``
(compacted inference modules) import torch on first use, so ``import wiring`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wiring.graph import HasGraph, NeuralGraph

__all__ = ["HasGraph", "NeuralGraph", "compile", "count", "export", "generators"]
__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from wiring.nn import compile
    from wiring.nn.count import count
    from wiring.nn.export import export


def __getattr__(name: str) -> Any:
    # torch is imported lazily: the graph layer and analysis must work without it.
    if name == "compile":
        from wiring.nn import compile as _compile

        return _compile
    if name == "count":
        from wiring.nn.count import count as _count

        return _count
    if name == "export":
        from wiring.nn.export import export as _export

        return _export
    if name in {"generators", "nn", "data", "models", "train", "analysis"}:
        import importlib

        return importlib.import_module(f"wiring.{name}")
    raise AttributeError(f"module 'wiring' has no attribute {name!r}")
