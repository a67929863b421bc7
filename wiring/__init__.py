"""neural-wiring: the wiring of a neural network as a first-class object.

The road every feature travels::

    generators / load  ->  NeuralGraph  --compile-->  nn.Module  --train-->  model.graph()  ->  analysis

``wiring.NeuralGraph`` and ``wiring.generators`` need numpy only; ``wiring.compile`` imports torch on
first use, so ``import wiring`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wiring.graph import HasGraph, NeuralGraph

__all__ = ["HasGraph", "NeuralGraph", "compile", "generators"]
__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from wiring.nn import compile


def __getattr__(name: str) -> Any:
    # torch is imported lazily: the graph layer and analysis must work without it.
    if name == "compile":
        from wiring.nn import compile as _compile

        return _compile
    if name in {"generators", "nn", "data", "models", "train", "analysis"}:
        import importlib

        return importlib.import_module(f"wiring.{name}")
    raise AttributeError(f"module 'wiring' has no attribute {name!r}")
