"""The shared parts of the models built around a wiring: a stem, a compiled graph, a head.

:class:`GraphClassifier` is the general wrapper of DNW (Wortsman et al., 2019, eq. 1 and eq. 10):

.. math::

    \\hat Y = h_\\psi\\bigl(Z_{\\mathcal V_E}\\bigr), \\qquad Z_{\\mathcal V_0} = g_\\phi(X),

a stem :math:`g_\\phi` (:func:`stem`) that maps the data to the states of the input nodes, the
compiled graph (static, discrete-time or continuous-time dynamics), and a head :math:`h_\\psi`
(:class:`CenterPoolHead`) that reads the output nodes. Each model family
(:mod:`wiring.models.tiny`, ...) builds its models from these parts.

Node states are 2-D channels (``spatial_dims=2``, images), 1-D channels (``spatial_dims=1``, e.g.
MNIST-1D) or scalars (``spatial_dims=0``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from wiring.graph import HasGraph, NeuralGraph

__all__ = ["CenterPoolHead", "GraphClassifier", "parameter_counts", "stem"]

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

    The paper's text: "we pool only the middle section". Here the window is ``window`` wide
    (default ``ceil(size / 4)``: 2 for 8, 3 for 10) and centred, ``start = (size - window) // 2`` in
    every spatial dimension: rows and columns 3–4 of an 8×8 map. (The authors' code averages rows
    and columns 2–3 of its 8×8 maps, one off the centre;
    :class:`~wiring.models.original.OriginalPoolHead` is that head.)

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
    wiring.models.tiny_classifier : the DNW paper's tiny classifier.
    """

    def __init__(self, stem: nn.Module, graph_module: nn.Module, head: nn.Module) -> None:
        super().__init__()
        for name, value in (("stem", stem), ("graph_module", graph_module), ("head", head)):
            if not isinstance(value, nn.Module):
                raise TypeError(f"{name}: expected a torch.nn.Module, found {type(value).__name__}")
        if not isinstance(graph_module, HasGraph):
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
