"""Compile a :class:`~wiring.graph.NeuralGraph` to a PyTorch module.

>>> import torch, wiring
>>> from wiring import generators
>>> g = generators.complete_dag([4, 8, 8, 2], seed=0)
>>> model = wiring.compile(g, dynamics="static", spatial_dims=1, k=40)
>>> model(torch.randn(3, 4, 16)).shape
torch.Size([3, 2, 16])
>>> model.graph().num_edges
40
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from wiring.graph import NeuralGraph
from wiring.nn.dynamics import (
    DYNAMICS,
    Continuous,
    Discrete,
    GraphModule,
    Static,
    register_dynamics,
)
from wiring.nn.ops import NODE_OPS, NormReluConv
from wiring.nn.original import (  # registers the authors' formulation as dynamics
    OriginalContinuous,
    OriginalDiscrete,
    OriginalStatic,
    ReluConvNorm,
)
from wiring.nn.selection import (
    SELECTIONS,
    FixedMask,
    Selection,
    TopK,
    TopKNoUpdate,
    register_selection,
)
from wiring.nn.sites import Site, densify, reset_optimizer_state, sites, sparsify
from wiring.options import ODE_METHOD, check

__all__ = [
    "DYNAMICS",
    "NODE_OPS",
    "SELECTIONS",
    "Continuous",
    "Discrete",
    "FixedMask",
    "GraphModule",
    "NormReluConv",
    "OriginalContinuous",
    "OriginalDiscrete",
    "OriginalStatic",
    "ReluConvNorm",
    "Selection",
    "Site",
    "Static",
    "TopK",
    "TopKNoUpdate",
    "compile",
    "densify",
    "register_dynamics",
    "register_selection",
    "reset_optimizer_state",
    "sites",
    "sparsify",
]

_COMMON = {
    "node_op": "norm-relu-conv",
    "norm": "default",
    "kernel_size": 3,
    "dtype": torch.float32,
    "sparse": None,
}


def compile(
    graph: NeuralGraph,
    *,
    dynamics: str = "static",
    spatial_dims: int = 2,
    selection: str | Selection = "dnw",
    k: int | Mapping[int, int] | None = None,
    **options: Any,
) -> GraphModule:
    """Compile ``graph`` to a ``torch.nn.Module`` running ``dynamics``.

    Parameters
    ----------
    graph : NeuralGraph
        The wiring. Its candidate weights initialise the module's ``weight`` parameter.
    dynamics : {"static", "discrete", "continuous", "static-original", ...}
        A name registered in :data:`DYNAMICS`; the ``"-original"`` entries are the DNW authors'
        own formulation (:mod:`wiring.nn.original`).
    spatial_dims : {0, 1, 2}
        Each node's state: 0 a scalar, 1 a 1-D signal, 2 a 2-D map. The input is
        (B, len(inputs)), (B, len(inputs), L) or (B, len(inputs), H, W); the output has
        len(outputs) channels and the same spatial size.
    selection : str or Selection
        Edge-selection rule: a name registered in :data:`SELECTIONS` (``"dnw"``,
        ``"dnw-no-update"``, ``"fixed"``, or one added with :func:`register_selection`) or a
        :class:`Selection` instance, used as given (see :mod:`wiring.nn.selection`).
    k : int or mapping of block id to int, optional
        Number of real edges for ``"dnw"`` rules (default: ``graph.num_edges``); a mapping gives a
        budget per destination block.
    **options
        Common: ``node_op`` ("norm-relu-conv", "identity"/"linear", or a factory
        ``(channels, spatial_dims) -> nn.Module``), ``norm`` ("batch", "instance", None; default
        batch, instance for continuous, none for scalar states), ``kernel_size`` (3), ``dtype``
        (torch.float32), ``sparse`` (None: chosen by density; True/False force the CSR or the
        dense message passing, see :mod:`wiring.nn.edges`). Per dynamics: ``input_stride`` (static:
        the stride of the input nodes' convolution); ``steps``, ``inject_input`` (discrete); ``t1``,
        ``method``, ``rtol``, ``atol``, ``adjoint``, ``solver_options`` (continuous).

    Returns
    -------
    GraphModule
        ``model(x)`` maps input-node states to output-node states; ``model.graph()`` returns the
        current wiring as a NeuralGraph.

    Raises
    ------
    ValueError
        Unknown dynamics/selection/option (the message lists the valid ones), a bad ``k``, or a
        graph the dynamics cannot run (e.g. a static candidate edge that is not into a later block).
    """
    if not isinstance(graph, NeuralGraph):
        raise TypeError(f"graph: expected a NeuralGraph, found {type(graph).__name__}")
    if dynamics not in DYNAMICS:
        raise ValueError(f"dynamics: expected one of {sorted(DYNAMICS)}, found {dynamics!r}")
    if isinstance(spatial_dims, bool) or spatial_dims not in (0, 1, 2):
        raise ValueError(f"spatial_dims: expected 0, 1 or 2, found {spatial_dims!r}")
    cls = DYNAMICS[dynamics]
    valid = {**_COMMON, **cls.options}
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"options: unknown option(s) {unknown} for dynamics={dynamics!r}; "
            f"expected some of {sorted(valid)}"
        )
    resolved = {**valid, **options}
    _check_options(resolved)
    module = cls(graph, spatial_dims=spatial_dims, selection=selection, k=k, **resolved)
    return module.to(resolved["dtype"])  # node-op parameters and buffers too


def _check_options(opts: dict[str, Any]) -> None:
    def positive_int(name: str) -> None:
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, found {v!r}")

    def positive_float(name: str) -> None:
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise ValueError(f"{name}: expected a positive number, found {v!r}")

    positive_int("kernel_size")
    if opts["kernel_size"] % 2 == 0:
        raise ValueError(
            f"kernel_size: expected an odd size (padding keeps the size), found {opts['kernel_size']}"
        )
    if not isinstance(opts["dtype"], torch.dtype) or not opts["dtype"].is_floating_point:
        raise ValueError(f"dtype: expected a floating torch.dtype, found {opts['dtype']!r}")
    if opts["sparse"] not in (None, True, False):
        raise ValueError(f"sparse: expected None, True or False, found {opts['sparse']!r}")
    if "steps" in opts:
        positive_int("steps")
    if "input_stride" in opts:
        positive_int("input_stride")
    for name in ("t1", "rtol", "atol"):
        if name in opts:
            positive_float(name)
    if "method" in opts:
        check("method", opts["method"], str, ODE_METHOD)  # torchdiffeq's solver table, read now
    if "solver_options" in opts and opts["solver_options"] is not None:
        if not isinstance(opts["solver_options"], Mapping):
            raise ValueError(
                f"solver_options: expected a dict or None, found {opts['solver_options']!r}"
            )
