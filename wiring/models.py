"""Models built around a wiring: a stem, a compiled graph, a head.

:class:`GraphClassifier` is the general wrapper of DNW (Wortsman et al., 2019, eq. 1 and eq. 10):

.. math::

    \\hat Y = h_\\psi\\bigl(Z_{\\mathcal V_E}\\bigr), \\qquad Z_{\\mathcal V_0} = g_\\phi(X),

a stem :math:`g_\\phi` that maps the data to the states of the input nodes, the compiled graph (static,
discrete-time or continuous-time dynamics), and a head :math:`h_\\psi` that reads the output nodes.
:func:`tiny_classifier` builds the paper's tiny classifier of section 3.1 with it.

Node states are 2-D channels (``spatial_dims=2``, images), 1-D channels (``spatial_dims=1``, e.g.
MNIST-1D) or scalars (``spatial_dims=0``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from wiring.graph import NeuralGraph

__all__ = [
    "CenterPoolHead",
    "GraphClassifier",
    "TinyClassifierSizes",
    "parameter_counts",
    "stem",
    "tiny_classifier",
    "tiny_classifier_graph",
]

_DYNAMICS = ("static", "discrete", "continuous")
_SELECTIONS = ("dnw", "dnw-no-update", "random")
_SPATIAL = (0, 1, 2)


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {shown}, found {value!r}")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer, found {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, found {value}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# stem and head


def _stem_strides(stride: int) -> tuple[int, int]:
    strides = {1: (1, 1), 2: (2, 1), 4: (2, 2)}
    if stride not in strides:
        raise ValueError(f"stem_stride: expected 1, 2 or 4, found {stride!r}")
    return strides[stride]


def stem(
    in_channels: int, out_channels: int, *, spatial_dims: int = 2, stride: int = 4
) -> nn.Module:
    """The DNW tiny classifier's stem :math:`g_\\phi`: two strided 3×3 convolutions.

    As in the paper's footnote 3 ("two 3×3 strided convolutions; the first is standard while the
    second is depthwise-separable") and the authors' code: conv(``in → c/2``, stride 2) – BatchNorm –
    ReLU – depthwise conv(``c/2``, stride 2) – pointwise conv(``c/2 → c``) – BatchNorm, with
    ``c = out_channels``. ``stride`` is the total downsampling (4: both convolutions strided, 2: the
    first only, 1: none). For ``spatial_dims=0`` the convolutions become linear layers
    (``in → c/2 → c``) with the same normalisation.

    Parameters
    ----------
    in_channels : int
        Channels of the data (features, for ``spatial_dims=0``).
    out_channels : int
        Number of input nodes of the graph.
    spatial_dims : {2, 1, 0}
        Input ``(B, in_channels, H, W)``, ``(B, in_channels, L)`` or ``(B, in_channels)``.
    stride : {4, 2, 1}
        Total downsampling of each spatial dimension.

    Returns
    -------
    torch.nn.Module
        Output ``(B, out_channels, ceil(H/stride), ceil(W/stride))`` (or the 1-D / 0-D analogue).
    """
    in_channels = _check_int("in_channels", in_channels, 1)
    out_channels = _check_int("out_channels", out_channels, 1)
    _check_choice("spatial_dims", spatial_dims, _SPATIAL)
    s1, s2 = _stem_strides(stride)
    mid = max(1, out_channels // 2)
    if spatial_dims == 0:
        return nn.Sequential(
            nn.Linear(in_channels, mid),
            nn.BatchNorm1d(mid),
            nn.ReLU(inplace=True),
            nn.Linear(mid, out_channels),
            nn.BatchNorm1d(out_channels),
        )
    conv = nn.Conv2d if spatial_dims == 2 else nn.Conv1d
    norm = nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm1d
    return nn.Sequential(
        conv(in_channels, mid, kernel_size=3, stride=s1, padding=1),
        norm(mid),
        nn.ReLU(inplace=True),
        conv(mid, mid, kernel_size=3, stride=s2, padding=1, groups=mid),
        conv(mid, out_channels, kernel_size=1),
        norm(out_channels),
    )


class CenterPoolHead(nn.Module):
    """The head :math:`h_\\psi`: average-pool the centre of each output node's state, then a linear layer.

    The DNW tiny classifier pools the central 2×2 of its 8×8 output channels. Here the window is
    ``window`` wide (default ``ceil(size / 4)``: 2 for 8, 3 for 10) and centred, ``start = (size -
    window) // 2`` in every spatial dimension.

    Parameters
    ----------
    num_outputs : int
        Number of output nodes (channels of the input).
    num_classes : int
        Number of logits.
    spatial_dims : {2, 1, 0}
        Input ``(B, num_outputs, H, W)``, ``(B, num_outputs, L)`` or ``(B, num_outputs)``.
    window : int, optional
        Width of the pooled centre.
    """

    def __init__(
        self,
        num_outputs: int,
        num_classes: int,
        *,
        spatial_dims: int = 2,
        window: int | None = None,
    ) -> None:
        super().__init__()
        _check_choice("spatial_dims", spatial_dims, _SPATIAL)
        self.spatial_dims = spatial_dims
        self.window = None if window is None else _check_int("window", window, 1)
        self.fc = nn.Linear(
            _check_int("num_outputs", num_outputs, 1), _check_int("num_classes", num_classes, 1)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, num_outputs, *spatial)`` → logits ``(B, num_classes)``."""
        if self.spatial_dims:
            for d in range(2, 2 + self.spatial_dims):
                size = z.shape[d]
                w = min(size, self.window or math.ceil(size / 4))
                z = z.narrow(d, (size - w) // 2, w)
            z = z.mean(dim=tuple(range(2, 2 + self.spatial_dims)))
        return self.fc(z)

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}, window={self.window}"


# ---------------------------------------------------------------------------------------------
# the wrapper


class GraphClassifier(nn.Module):
    """Stem :math:`g_\\phi` → compiled graph → head :math:`h_\\psi`.

    Parameters
    ----------
    stem : torch.nn.Module
        Maps a batch of data to the states of the graph's input nodes, ``(B, len(graph.inputs),
        *spatial)``.
    graph_module : torch.nn.Module
        A module made by :func:`wiring.compile`; it must have ``.graph()`` (the current wiring as a
        :class:`~wiring.graph.NeuralGraph`) and ``.weight`` (the candidate edge weights).
    head : torch.nn.Module
        Maps the output nodes' states ``(B, len(graph.outputs), *spatial)`` to logits.

    See Also
    --------
    GraphClassifier.from_graph : the usual way to build one around a NeuralGraph.
    tiny_classifier : the DNW paper's tiny classifier.
    """

    def __init__(self, stem: nn.Module, graph_module: nn.Module, head: nn.Module) -> None:
        super().__init__()
        for name, value in (("stem", stem), ("graph_module", graph_module), ("head", head)):
            if not isinstance(value, nn.Module):
                raise TypeError(f"{name}: expected a torch.nn.Module, found {type(value).__name__}")
        if not callable(getattr(graph_module, "graph", None)):
            raise TypeError(
                "graph_module: expected a compiled graph module with a .graph() method "
                f"(made by wiring.compile), found {type(graph_module).__name__}"
            )
        self.stem = stem
        self.graph_module = graph_module
        self.head = head

    @classmethod
    def from_graph(
        cls,
        graph: NeuralGraph,
        *,
        in_channels: int,
        num_classes: int,
        spatial_dims: int = 2,
        dynamics: str = "static",
        selection: str = "dnw",
        k: int | None = None,
        stem_stride: int = 4,
        pool_window: int | None = None,
        **compile_options: Any,
    ) -> GraphClassifier:
        """Wrap any NeuralGraph: the tiny-classifier stem, ``wiring.compile(graph, ...)``, a pooled head.

        Parameters
        ----------
        graph : NeuralGraph
            The wiring; it needs input and output nodes.
        in_channels, num_classes : int
            Channels of the data and number of classes.
        spatial_dims : {2, 1, 0}
            Node states are 2-D channels, 1-D channels or scalars.
        dynamics : {"static", "discrete", "continuous"}
            Passed to :func:`wiring.compile`.
        selection : {"dnw", "dnw-no-update", "fixed"}
            Passed to :func:`wiring.compile`; ``"fixed"`` trains on ``graph.real`` as it is.
        k : int, optional
            Number of real edges for the DNW selections.
        stem_stride : {4, 2, 1}
            Downsampling of the stem.
        pool_window : int, optional
            Width of the pooled centre in the head (see :class:`CenterPoolHead`).
        **compile_options
            Further options of :func:`wiring.compile` (``norm``, ``steps``, ``t1``, ``method``, ...).
        """
        from wiring.nn import compile as compile_graph

        if not isinstance(graph, NeuralGraph):
            raise TypeError(f"graph: expected a NeuralGraph, found {type(graph).__name__}")
        if len(graph.inputs) == 0 or len(graph.outputs) == 0:
            raise ValueError(
                f"graph: expected input and output nodes, found {len(graph.inputs)} inputs and "
                f"{len(graph.outputs)} outputs"
            )
        module = compile_graph(
            graph,
            dynamics=dynamics,
            spatial_dims=spatial_dims,
            selection=selection,
            k=k,
            **compile_options,
        )
        return cls(
            stem(in_channels, len(graph.inputs), spatial_dims=spatial_dims, stride=stem_stride),
            module,
            CenterPoolHead(
                len(graph.outputs), num_classes, spatial_dims=spatial_dims, window=pool_window
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Data ``(B, in_channels, *spatial)`` → logits ``(B, num_classes)``."""
        return self.head(self.graph_module(self.stem(x)))

    def graph(self) -> NeuralGraph:
        """The current wiring (delegates to the compiled module's ``graph()``)."""
        return self.graph_module.graph()

    def parameter_counts(self) -> dict[str, int]:
        """Parameters as the DNW paper counts them and as PyTorch counts them.

        See :func:`parameter_counts`.
        """
        return parameter_counts(self)


def parameter_counts(model: GraphClassifier) -> dict[str, int]:
    """Count a model's parameters as the DNW paper does and as PyTorch does.

    The paper counts a neural graph by its real edges, not its candidates:

    .. math::

        \\text{paper} = |\\mathcal E| + \\#\\theta_{\\text{node ops}} + \\#\\phi_{\\text{stem}} +
        \\#\\psi_{\\text{head}},

    where :math:`|\\mathcal E|` is the number of real edges (``model.graph().num_edges``) and the node
    operations are every parameter of the compiled module except its candidate edge weights
    (``graph_module.weight``). PyTorch's count is ``sum(p.numel() for p in model.parameters())``, which
    includes every candidate weight (the DNW update rule trains them all). Buffers (BatchNorm
    statistics) are in neither.

    Returns
    -------
    dict
        ``paper``, ``torch``, and the parts ``edges``, ``candidates``, ``node_ops``, ``stem``, ``head``.

    References
    ----------
    Wortsman, Farhadi, Rastegari, "Discovering Neural Wirings", NeurIPS 2019, section 3.1 ("The
    models have 41k parameters") and the authors' ``profiling()`` (real edges + node operations).
    """
    if not isinstance(model, GraphClassifier):
        raise TypeError(f"model: expected a GraphClassifier, found {type(model).__name__}")
    gm = model.graph_module
    weight = getattr(gm, "weight", None)
    graph_params = [p for p in gm.parameters() if p is not weight]
    node_ops = sum(p.numel() for p in graph_params)
    candidates = int(weight.numel()) if isinstance(weight, torch.Tensor) else 0
    edges = int(model.graph().num_edges)
    stem_n = sum(p.numel() for p in model.stem.parameters())
    head_n = sum(p.numel() for p in model.head.parameters())
    return {
        "paper": edges + node_ops + stem_n + head_n,
        "torch": sum(p.numel() for p in model.parameters()),
        "edges": edges,
        "candidates": candidates,
        "node_ops": node_ops,
        "stem": stem_n,
        "head": head_n,
    }


# ---------------------------------------------------------------------------------------------
# the tiny classifier


@dataclass(frozen=True)
class TinyClassifierSizes:
    """The sizes and solver settings of :func:`tiny_classifier`; each is an override keyword.

    Defaults are the DNW paper's tiny classifier (section 3.1 and the authors' configs).

    Attributes
    ----------
    num_nodes : int
        Nodes of the graph (800).
    num_inputs : int
        Input nodes, the first ``num_inputs`` nodes, fed by the stem (32).
    num_outputs : int
        Output nodes, the last ``num_outputs`` nodes, read by the head (100).
    block_size : int
        Static only: the nodes between inputs and outputs are cut into blocks of this size, the last
        one taking the remainder (192: blocks 32 | 192 192 192 92 | 100).
    k : int
        Real edges (32,000 = 5% of 800²).
    steps : int
        Discrete time steps (5).
    t1 : float
        Continuous: integrate from 0 to ``t1`` (1.0).
    method, rtol, atol : str, float, float
        Continuous: torchdiffeq solver and tolerances (``"dopri5"``, 1e-3, 1e-3).
    adjoint : bool
        Continuous: backpropagate with the adjoint method (False: through the solver).
    step_size : float or None
        Continuous, fixed-step methods (``"rk4"``, ``"euler"``, ...): the step (None: one step from
        0 to ``t1``).
    stem_stride : {4, 2, 1}
        Downsampling of the stem (4).
    norm : {"instance", "batch", None}
        Normalisation of the node operation (instance; batch for scalar states, ``spatial_dims=0``,
        which have no instance statistics).
    graph_seed : int
        Seed of the random-graph baseline's edge choice.
    pool_window : int or None
        Width of the head's pooled centre (None: ``ceil(size / 4)``).
    weight_scale : float or None
        Candidate edge weights start uniform in ``(-weight_scale, weight_scale)``; None:
        ``1 / sqrt(num_nodes)``, the authors' initialisation (PyTorch's default for their
        ``num_nodes × num_nodes`` 1×1 convolution).
    """

    num_nodes: int = 800
    num_inputs: int = 32
    num_outputs: int = 100
    block_size: int = 192
    k: int = 32_000
    steps: int = 5
    t1: float = 1.0
    method: str = "dopri5"
    rtol: float = 1e-3
    atol: float = 1e-3
    adjoint: bool = False
    step_size: float | None = None
    stem_stride: int = 4
    norm: str | None = "instance"
    graph_seed: int = 0
    pool_window: int | None = None
    weight_scale: float | None = None

    def static_blocks(self) -> list[int]:
        """Block sizes of the static graph: inputs, hidden blocks of ``block_size``, outputs.

        >>> TinyClassifierSizes().static_blocks()
        [32, 192, 192, 192, 92, 100]
        """
        hidden = self.num_nodes - self.num_inputs - self.num_outputs
        sizes = [self.num_inputs] + [self.block_size] * (hidden // self.block_size)
        if hidden % self.block_size:
            sizes.append(hidden % self.block_size)
        return [*sizes, self.num_outputs]


def _sizes(overrides: dict[str, Any]) -> TinyClassifierSizes:
    names = {f.name for f in dataclasses.fields(TinyClassifierSizes)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(
            f"tiny_classifier: unknown override {unknown[0]!r}; expected one of {', '.join(sorted(names))}"
        )
    s = dataclasses.replace(TinyClassifierSizes(), **overrides)
    for name in ("num_nodes", "num_inputs", "num_outputs", "block_size", "k", "steps"):
        _check_int(name, getattr(s, name), 1)
    _check_int("graph_seed", s.graph_seed, 0)
    if s.num_inputs + s.num_outputs > s.num_nodes:
        raise ValueError(
            f"num_nodes: expected at least num_inputs + num_outputs = "
            f"{s.num_inputs + s.num_outputs}, found {s.num_nodes}"
        )
    for name in ("t1", "rtol", "atol", "step_size", "weight_scale"):
        v = getattr(s, name)
        if name in ("step_size", "weight_scale") and v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise ValueError(f"{name}: expected a positive number, found {v!r}")
    return s


def tiny_classifier_graph(dynamics: str = "static", **overrides: Any) -> NeuralGraph:
    """The candidate graph of the tiny classifier.

    Static: a complete DAG over the blocks of :meth:`TinyClassifierSizes.static_blocks` (inputs are
    block 0, the last ``num_outputs`` nodes are the last block, an edge u→v exists when
    block(u) < block(v)). Dynamic: the complete digraph on ``num_nodes`` nodes with the first
    ``num_inputs`` as inputs and the last ``num_outputs`` as outputs.

    Parameters
    ----------
    dynamics : {"static", "discrete", "continuous"}
    **overrides
        Fields of :class:`TinyClassifierSizes` (only the sizes matter here).

    Examples
    --------
    >>> g = tiny_classifier_graph("static", num_nodes=12, num_inputs=2, num_outputs=3, block_size=4)
    >>> g.num_nodes, g.outputs.tolist(), g.num_blocks
    (12, [9, 10, 11], 4)
    """
    _check_choice("dynamics", dynamics, _DYNAMICS)
    s = _sizes(overrides)
    from wiring import generators

    if dynamics == "static":
        return generators.complete_dag(s.static_blocks(), seed=s.graph_seed)
    return generators.complete_digraph(
        s.num_nodes,
        inputs=np.arange(s.num_inputs),
        outputs=np.arange(s.num_nodes - s.num_outputs, s.num_nodes),
        seed=s.graph_seed,
    )


def tiny_classifier(
    *,
    dynamics: str = "static",
    selection: str = "dnw",
    spatial_dims: int = 2,
    in_channels: int = 3,
    num_classes: int = 10,
    **overrides: Any,
) -> GraphClassifier:
    """The DNW paper's tiny classifier (section 3.1, Table 1), or a smaller one.

    A strided stem downsamples the input 4× into 32 input nodes; an 800-node graph (static: blocks
    32 | 192 192 192 92 | 100; discrete: 5 steps; continuous: dopri5 from t=0 to 1 at tolerance 1e-3)
    with k = 32,000 real edges and an InstanceNorm–ReLU–3×3 depthwise convolution at each node; the
    last 100 nodes are the outputs, the centre of each is average-pooled and a linear layer gives the
    class logits.

    Parameters
    ----------
    dynamics : {"static", "discrete", "continuous"}
    selection : {"dnw", "dnw-no-update", "random"}
        ``"dnw"``: the k largest |w| are real, every candidate trained (Algorithm 1);
        ``"dnw-no-update"``: the paper's ablation without the update rule for hallucinated edges;
        ``"random"``: the random-graph baseline, k edges drawn uniformly
        (:func:`wiring.generators.random_k` with ``graph_seed``) and kept fixed.
    spatial_dims : {2, 1, 0}
        Data ``(B, in_channels, H, W)``, ``(B, in_channels, L)`` or ``(B, in_channels)``.
    in_channels, num_classes : int
    **overrides
        Fields of :class:`TinyClassifierSizes` (``num_nodes``, ``num_inputs``, ``num_outputs``,
        ``block_size``, ``k``, ``steps``, ``t1``, ``method``, ``rtol``, ``atol``, ``adjoint``,
        ``step_size``, ``stem_stride``, ``norm``, ``graph_seed``, ``pool_window``).

    Returns
    -------
    GraphClassifier
        Maps ``(B, in_channels, *spatial)`` to logits ``(B, num_classes)``.

    Notes
    -----
    Static layout. The authors' code runs five block steps and lets the last 100 nodes receive edges
    from every block, including from nodes of their own block. With candidates restricted to
    block(u) < block(v), the same computation is the DAG 32 | 192 192 192 92 | 100: five blocks with
    node operations (as the paper's "5 blocks") and an output block that only sums.

    Parameter count (:func:`parameter_counts`, "paper"): 32,000 edges + node operations + stem 1,248
    + head 1,010; with 11 parameters (InstanceNorm affine 2 + 3×3 kernel 9) at each of the 700
    non-output nodes that is 41,958 — the paper's "41k" (its code says "less than 42k").
    """
    _check_choice("dynamics", dynamics, _DYNAMICS)
    _check_choice("selection", selection, _SELECTIONS)
    _check_choice("spatial_dims", spatial_dims, _SPATIAL)
    s = _sizes(overrides)
    graph = tiny_classifier_graph(dynamics, **overrides)
    if s.k > graph.num_candidates:
        raise ValueError(
            f"k: expected at most the {graph.num_candidates} candidate edges of the {dynamics} "
            f"graph, found {s.k}"
        )
    norm = s.norm
    if spatial_dims == 0 and norm == "instance":
        norm = "batch"  # a scalar state has no instance statistics
    options: dict[str, Any] = {"norm": norm}
    if dynamics == "discrete":
        options["steps"] = s.steps
    elif dynamics == "continuous":
        options.update(t1=s.t1, method=s.method, rtol=s.rtol, atol=s.atol, adjoint=s.adjoint)
        if s.step_size is not None:
            options["solver_options"] = {"step_size": float(s.step_size)}
    if selection == "random":
        from wiring import generators

        graph = generators.random_k(graph, s.k, seed=s.graph_seed)
        compile_selection, k = "fixed", None
    else:
        compile_selection, k = selection, s.k
    # The generators draw weights uniform in (-1, 1); scale them to the authors' initialisation.
    # A common factor leaves the top-k choice (and random_k's edges) unchanged.
    scale = s.weight_scale if s.weight_scale is not None else 1.0 / math.sqrt(s.num_nodes)
    graph = graph.with_weights(graph.weight * scale)
    return GraphClassifier.from_graph(
        graph,
        in_channels=in_channels,
        num_classes=num_classes,
        spatial_dims=spatial_dims,
        dynamics=dynamics,
        selection=compile_selection,
        k=k,
        stem_stride=s.stem_stride,
        pool_window=s.pool_window,
        **options,
    )
