"""MobileNetV1 and MobileNetV1-DNW (Wortsman et al., *Discovering Neural Wirings*, 2019, sec. 2.4).

:func:`mobilenet_v1` is the plain network of Howard et al. (2017): a strided 3×3 convolution, 13
depthwise-separable layers (3×3 depthwise convolution, batch norm, ReLU, 1×1 pointwise convolution,
batch norm, ReLU), global average pooling and a linear classifier; ``width`` scales every channel
count (the paper's width multiplier α).

:func:`mobilenet_v1_dnw` replaces the pointwise convolutions at each spatial resolution by one
static neural graph whose wiring is learned (DNW sec. 2.4 and Table 4):

* one graph per resolution, the output nodes of graph :math:`G_i` being the input nodes of
  :math:`G_{i+1}`;
* the nodes are the channels of the full-width (×1.0) MobileNetV1, cut into blocks so that the
  longest path equals the number of MobileNetV1 layers at that resolution (1, 2, 2, 6 and 2):
  ``32 | 64``, ``64 | 128 | 128``, ``128 | 256 | 256``, ``256 | 512 × 6``, ``512 | 1024 | 1024``;
* every edge ``u → v`` with ``block(u) < block(v)`` is a candidate, and the edge budget at each
  resolution is the number of 1×1 edges of MobileNetV1 ×``width`` there — a pointwise convolution
  from :math:`c_1` to :math:`c_2` channels is a complete bipartite graph with :math:`c_1 c_2` edges;
* each non-output node applies batch norm, ReLU and a 3×3 depthwise convolution (stride 2 at the
  input nodes where the resolution halves, compile's ``input_stride``); output nodes have no op.

The width therefore sets only the number of edges; the depthwise convolutions of nodes that end up
without an input or an output edge are skipped at inference (:func:`wiring.count`,
:func:`wiring.export`), which is why the paper's DNW models use a slightly smaller width than the
MobileNetV1 they are compared with.

Examples
--------
>>> import torch
>>> from wiring.models import mobilenet_v1, mobilenet_v1_dnw, mobilenet_v1_edge_budgets
>>> mobilenet_v1_edge_budgets(0.25)
[128, 1536, 6144, 90112, 98304]
>>> net = mobilenet_v1(0.25, num_classes=10)
>>> net(torch.randn(2, 3, 32, 32)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from wiring.graph import NeuralGraph
from wiring.models.parts import _check_int

__all__ = [
    "MOBILENET_V1_LAYERS",
    "MobileNetV1",
    "MobileNetV1DNW",
    "chain_graphs",
    "mobilenet_v1",
    "mobilenet_v1_dnw",
    "mobilenet_v1_edge_budgets",
    "mobilenet_v1_stages",
]

#: Channels of the first (standard, strided) convolution of MobileNetV1 ×1.0.
FIRST_CHANNELS = 32

#: The 13 depthwise-separable layers of MobileNetV1 ×1.0 (Howard et al. 2017, Table 1):
#: ``(in_channels, out_channels, stride of the depthwise convolution)``.
MOBILENET_V1_LAYERS: tuple[tuple[int, int, int], ...] = (
    (32, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 512, 2),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 1024, 2),
    (1024, 1024, 1),
)


def _check_width(width: Any, *, at_most_one: bool) -> float:
    if isinstance(width, bool) or not isinstance(width, int | float):
        raise TypeError(f"width: expected a number, found {type(width).__name__} {width!r}")
    hi = 1.0 if at_most_one else math.inf
    if not 0 < width <= hi:
        bound = "in (0, 1]" if at_most_one else "> 0"
        raise ValueError(f"width: expected a width multiplier {bound}, found {width!r}")
    return float(width)


def _scaled(channels: int, width: float) -> int:
    """Channels of MobileNetV1 ×``width``: ``floor(channels · width)``, at least 1.

    The rounding of TF-slim's MobileNetV1 (``int(d * depth_multiplier)``); exact for ×0.25, ×0.5,
    ×0.75 and ×1. The tiny epsilon keeps products such as 0.3 · 1024 from rounding down by one.
    """
    return max(1, math.floor(channels * width + 1e-9))


def mobilenet_v1_stages() -> list[tuple[int, int, int, int]]:
    """The layers of MobileNetV1 grouped by spatial resolution.

    Returns
    -------
    list of (in_channels, out_channels, stride, layers)
        One entry per resolution (112, 56, 28, 14 and 7 px for a 224 px input): the channels entering
        the resolution, the channels of its layers, the stride that brings the resolution down and
        the number of pointwise layers there.

    Examples
    --------
    >>> mobilenet_v1_stages()
    [(32, 64, 1, 1), (64, 128, 2, 2), (128, 256, 2, 2), (256, 512, 2, 6), (512, 1024, 2, 2)]
    """
    stages: list[list[int]] = []
    for cin, cout, stride in MOBILENET_V1_LAYERS:
        if stages and stride == 1:
            stages[-1][3] += 1
        else:
            stages.append([cin, cout, stride, 1])
    return [(a, b, c, d) for a, b, c, d in stages]


def mobilenet_v1_edge_budgets(width: float = 1.0) -> list[int]:
    """The 1×1 edges of MobileNetV1 ×``width`` at each spatial resolution.

    A pointwise convolution from :math:`c_1` to :math:`c_2` channels is a complete bipartite graph
    with :math:`c_1 c_2` edges (DNW sec. 2.4), so the budget of resolution :math:`s` is

    .. math::

        k_s = \\sum_{\\ell \\in s} \\lfloor \\alpha\\, c^{\\text{in}}_\\ell \\rfloor
              \\lfloor \\alpha\\, c^{\\text{out}}_\\ell \\rfloor .

    Examples
    --------
    >>> mobilenet_v1_edge_budgets(1.0)
    [2048, 24576, 98304, 1441792, 1572864]
    """
    width = _check_width(width, at_most_one=False)
    budgets: list[int] = []
    for cin, cout, stride in MOBILENET_V1_LAYERS:
        edges = _scaled(cin, width) * _scaled(cout, width)
        if budgets and stride == 1:
            budgets[-1] += edges
        else:
            budgets.append(edges)
    return budgets


# ---------------------------------------------------------------------------------------------
# MobileNetV1


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


class MobileNetV1(nn.Module):
    """The plain MobileNetV1 (built by :func:`mobilenet_v1`).

    Attributes
    ----------
    stem : nn.Sequential
        3×3 convolution (stride ``stem_stride``), batch norm, ReLU.
    layers : nn.Sequential
        13 depthwise-separable layers, each ``Sequential(depthwise conv, BN, ReLU, pointwise conv,
        BN, ReLU)``.
    pool : nn.AdaptiveAvgPool2d
    fc : nn.Linear
    """

    def __init__(self, stem: nn.Sequential, layers: nn.Sequential, fc: nn.Linear) -> None:
        super().__init__()
        self.stem = stem
        self.layers = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, in_channels, H, W)`` → logits ``(B, num_classes)``."""
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def mobilenet_v1(
    width: float = 1.0, num_classes: int = 1000, in_channels: int = 3, *, stem_stride: int = 2
) -> MobileNetV1:
    """MobileNetV1 ×``width`` (Howard et al., *MobileNets*, 2017), written by hand.

    Parameters
    ----------
    width : float
        Width multiplier α: every layer has ``floor(α · c)`` channels (at least 1).
    num_classes : int
        Logits of the classifier.
    in_channels : int
        Channels of the images.
    stem_stride : {2, 1}
        Stride of the first convolution: 2 as in the paper (224 px → 112 px); 1 for small images
        (the DNW authors' CIFAR-10 setting, images of at most 64 px).

    Returns
    -------
    MobileNetV1
        Maps ``(B, in_channels, H, W)`` to ``(B, num_classes)``.

    Notes
    -----
    At 224×224, batch 1: ×1.0 has 4,231,976 parameters (batch-norm scales and shifts included) and
    568.7M multiply-adds, ×0.5 1,331,592 / 149.5M and ×0.25 470,072 / 41.0M (convolutions and the
    classifier, as the paper counts; see :func:`wiring.count`).

    Examples
    --------
    >>> sum(p.numel() for p in mobilenet_v1().parameters())
    4231976
    """
    width = _check_width(width, at_most_one=False)
    num_classes = _check_int("num_classes", num_classes, 1)
    in_channels = _check_int("in_channels", in_channels, 1)
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride: expected 1 or 2, found {stem_stride!r}")
    c0 = _scaled(FIRST_CHANNELS, width)
    stem = nn.Sequential(
        nn.Conv2d(in_channels, c0, 3, stride=stem_stride, padding=1, bias=False),
        nn.BatchNorm2d(c0),
        nn.ReLU(inplace=True),
    )
    layers = []
    for cin, cout, stride in MOBILENET_V1_LAYERS:
        ci, co = _scaled(cin, width), _scaled(cout, width)
        layers.append(
            nn.Sequential(
                nn.Conv2d(ci, ci, 3, stride=stride, padding=1, groups=ci, bias=False),
                nn.BatchNorm2d(ci),
                nn.ReLU(inplace=True),
                nn.Conv2d(ci, co, 1, bias=False),
                nn.BatchNorm2d(co),
                nn.ReLU(inplace=True),
            )
        )
    model = MobileNetV1(
        stem,
        nn.Sequential(*layers),
        nn.Linear(_scaled(MOBILENET_V1_LAYERS[-1][1], width), num_classes),
    )
    _init_weights(model)
    return model


# ---------------------------------------------------------------------------------------------
# MobileNetV1-DNW


class MobileNetV1DNW(nn.Module):
    """MobileNetV1-DNW (built by :func:`mobilenet_v1_dnw`): stem → one static graph per
    resolution → batch norm, ReLU, average pooling → classifier.

    Attributes
    ----------
    stem : nn.Conv2d
        ``in_channels → 32``, 3×3, stride ``stem_stride``, no bias: the graph's input nodes start
        with their own batch norm.
    stages : nn.ModuleList
        The five compiled static graphs (112, 56, 28, 14 and 7 px for a 224 px input); the output
        of ``stages[i]`` is the input of ``stages[i + 1]``.
    norm : nn.BatchNorm2d
        On the 1,024 output nodes of the last graph (which have no op of their own).
    fc : nn.Linear or GraphModule
        The classifier: dense, or (``small=True``) a compiled graph of scalar nodes, 1,024 inputs
        and ``num_classes`` outputs, with the edge budget of MobileNetV1 ×width's classifier.
    """

    def __init__(
        self, stem: nn.Conv2d, stages: Sequence[nn.Module], norm: nn.BatchNorm2d, fc: nn.Module
    ) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.norm = norm
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, in_channels, H, W)`` → logits ``(B, num_classes)``."""
        z = self.stem(x)
        for stage in self.stages:
            z = stage(z)
        z = torch.flatten(self.pool(torch.relu(self.norm(z))), 1)
        return self.fc(z)

    def graphs(self) -> list[NeuralGraph]:
        """The current wiring of every compiled graph: the five resolutions, then the classifier's
        graph when ``small=True``."""
        out = [stage.graph() for stage in self.stages]
        if hasattr(self.fc, "graph"):
            out.append(self.fc.graph())
        return out

    def graph(self) -> NeuralGraph:
        """The whole learned wiring as one static graph (for ``graph.npz`` and the analysis).

        The graphs of :meth:`graphs` glued together: output node ``i`` of one graph *is* input node
        ``i`` of the next (the same channel), and block ids continue, so every edge still goes into
        a later block. 5,984 nodes (6,984 with the small classifier's class nodes for 1,000 classes).
        """
        return chain_graphs(self.graphs())


def chain_graphs(graphs: Sequence[NeuralGraph]) -> NeuralGraph:
    """Glue static graphs end to end: the outputs of ``graphs[i]`` become the inputs of ``graphs[i+1]``.

    Output node ``j`` of one graph (in ``outputs`` order) is identified with input node ``j`` of the
    next; every other node is new. Block ids of a graph are shifted so that its input block is the
    previous graph's output block.

    Examples
    --------
    >>> from wiring import generators
    >>> g = chain_graphs([generators.complete_dag([2, 3]), generators.complete_dag([3, 1])])
    >>> g.num_nodes, g.num_candidates, g.inputs.tolist(), g.outputs.tolist(), g.num_blocks
    (6, 9, [0, 1], [5], 3)
    """
    if not graphs:
        raise ValueError("graphs: expected at least one NeuralGraph, found none")
    src, dst, weight, real = [], [], [], []
    first = graphs[0]
    prev_out = first.outputs
    offset = first.num_nodes
    block_of = first.blocks.astype(np.int64)
    for i, g in enumerate(graphs):
        if i == 0:
            mapping = np.arange(g.num_nodes)
        else:
            if g.inputs.size != prev_out.size:
                raise ValueError(
                    f"graphs[{i}]: expected {prev_out.size} input nodes (the outputs of "
                    f"graphs[{i - 1}]), found {g.inputs.size}"
                )
            shift = int(block_of[prev_out[0]]) - int(g.blocks[g.inputs].min())
            mapping = np.full(g.num_nodes, -1, dtype=np.int64)
            mapping[g.inputs] = prev_out
            new = np.setdiff1d(np.arange(g.num_nodes), g.inputs)
            mapping[new] = offset + np.arange(new.size)
            block_of = np.concatenate([block_of, g.blocks[new] + shift])
            offset += new.size
        src.append(mapping[g.src])
        dst.append(mapping[g.dst])
        weight.append(g.weight)
        real.append(g.real)
        prev_out = mapping[g.outputs]
    return NeuralGraph(
        np.concatenate(src),
        np.concatenate(dst),
        np.concatenate(weight),
        num_nodes=offset,
        blocks=block_of,
        inputs=first.inputs,
        outputs=prev_out,
        real=np.concatenate(real),
    )


def _dnw_selection(selection: Any) -> str:
    from wiring.nn.selection import SELECTIONS

    valid = sorted({*SELECTIONS, "random"} - {"fixed"})
    if selection not in valid:
        raise ValueError(f"selection: expected one of {valid}, found {selection!r}")
    return str(selection)


def _stage(
    blocks: list[int], k: int, selection: str, rng: np.random.Generator, **options: Any
) -> nn.Module:
    """The compiled graph of one resolution: every ``u → v`` with ``block(u) < block(v)``."""
    from wiring import generators
    from wiring.nn import compile as compile_graph

    graph = generators.complete_dag(blocks, seed=rng)
    rule: str
    k_rule: int | None
    if selection == "random":  # DNW's random-graph baseline (MobileNetV1-RG): k fixed edges
        graph, rule, k_rule = generators.random_k(graph, k, seed=rng), "fixed", None
    else:
        rule, k_rule = selection, k
    module = compile_graph(graph, dynamics="static", selection=rule, k=k_rule, **options)
    # The authors' initialisation: PyTorch's default for their (sources × destinations) 1×1
    # convolution, uniform in ±1/sqrt(sources). A common factor leaves the top-k unchanged.
    with torch.no_grad():
        module.weight.mul_(1.0 / math.sqrt(sum(blocks[:-1])))
    return module


def mobilenet_v1_dnw(
    width: float = 1.0,
    num_classes: int = 1000,
    *,
    small: bool = False,
    selection: str = "dnw",
    in_channels: int = 3,
    stem_stride: int = 2,
    seed: int | None = None,
) -> MobileNetV1DNW:
    """MobileNetV1-DNW ×``width`` (DNW sec. 2.4, Table 4): MobileNetV1 with a learned wiring.

    Parameters
    ----------
    width : float in (0, 1]
        Sets the edge budget of every resolution to the 1×1 edges of MobileNetV1 ×``width`` there
        (:func:`mobilenet_v1_edge_budgets`); the nodes are always the ×1.0 channels.
    num_classes : int
    small : bool
        MobileNetV1-DNW-Small: the classifier too is a learned wiring, a static graph of scalar
        nodes (1,024 inputs, ``num_classes`` outputs, no node op, no bias) with as many edges as
        the classifier of MobileNetV1 ×``width`` (``floor(1024 · width) · num_classes``).
        Otherwise the classifier is a dense ``nn.Linear(1024, num_classes)``.
    selection : {"dnw", "dnw-no-update", "random"}
        ``"dnw"``: the top-k of |w| at each resolution are real and every candidate is trained
        (Algorithm 1); ``"dnw-no-update"``: the ablation without updates of hallucinated edges;
        ``"random"``: the random-graph baseline (MobileNetV1-RG), k fixed random edges per
        resolution. Any other rule registered in :data:`wiring.nn.SELECTIONS` that takes a ``k``
        works too.
    in_channels : int
    stem_stride : {2, 1}
        Stride of the stem convolution (1 for small images, as the authors do at most 64 px).
    seed : int, optional
        Seed of the candidate weights (and of the random graph); default: drawn from torch's
        global generator, so ``torch.manual_seed`` makes the model reproducible.

    Returns
    -------
    MobileNetV1DNW
        Maps ``(B, in_channels, H, W)`` to ``(B, num_classes)``; ``.graph()`` is the learned wiring.

    Notes
    -----
    Candidates per resolution (every ``u → v`` with ``block(u) < block(v)``): 2,048; 32,768;
    131,072; 4,718,592; 2,097,152 — 6,981,632 in all (plus 1,024,000 for the small classifier). The
    authors' code ranks a full (sources × destinations) matrix per resolution, of which about half
    could never carry signal; here ``k`` counts usable edges only.

    Examples
    --------
    The five graphs of ``mobilenet_v1_dnw(0.25)`` have the blocks and edge budgets

    >>> [[cin] + [cout] * layers for cin, cout, _, layers in mobilenet_v1_stages()][:3]
    [[32, 64], [64, 128, 128], [128, 256, 256]]
    >>> mobilenet_v1_edge_budgets(0.25)
    [128, 1536, 6144, 90112, 98304]

    and ``[stage.k for stage in mobilenet_v1_dnw(0.25).stages]`` is that list (building the model
    takes a few seconds: 7M candidate edges).
    """
    width = _check_width(width, at_most_one=True)
    num_classes = _check_int("num_classes", num_classes, 1)
    in_channels = _check_int("in_channels", in_channels, 1)
    if not isinstance(small, bool):
        raise TypeError(f"small: expected a bool, found {type(small).__name__} {small!r}")
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride: expected 1 or 2, found {stem_stride!r}")
    selection = _dnw_selection(selection)
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
    seed = _check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)

    stages = [
        _stage(
            [cin] + [cout] * layers,
            k,
            selection,
            rng,
            spatial_dims=2,
            norm="batch",
            input_stride=stride,
        )
        for (cin, cout, stride, layers), k in zip(
            mobilenet_v1_stages(), mobilenet_v1_edge_budgets(width), strict=True
        )
    ]
    features = MOBILENET_V1_LAYERS[-1][1]
    fc: nn.Module
    if small:
        k_fc = _scaled(features, width) * num_classes
        fc = _stage(
            [features, num_classes], k_fc, selection, rng, spatial_dims=0, node_op="identity"
        )
    else:
        fc = nn.Linear(features, num_classes)
        nn.init.normal_(fc.weight, 0.0, 0.01)
        nn.init.zeros_(fc.bias)
    stem = nn.Conv2d(in_channels, FIRST_CHANNELS, 3, stride=stem_stride, padding=1, bias=False)
    nn.init.kaiming_normal_(stem.weight, mode="fan_out", nonlinearity="relu")
    return MobileNetV1DNW(stem, stages, nn.BatchNorm2d(features), fc)


def _export_mobilenet_v1_dnw(model: MobileNetV1DNW, *, sparse: bool | None) -> nn.Module:
    """:func:`wiring.export` of MobileNetV1-DNW: the five graphs exported together (dead channels
    removed across graph boundaries and from the stem), batch norm of the head as a scale and
    shift, the classifier dense or an exported graph."""
    from wiring.nn.export import ExportedChain, export_static_chain

    stages, stem_channels = export_static_chain(list(model.stages), sparse=sparse)
    conv = model.stem
    stem = nn.Conv2d(
        conv.in_channels,
        int(stem_channels.size),
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=False,
    ).to(conv.weight.dtype)
    stem.weight.data.copy_(conv.weight.detach()[torch.as_tensor(stem_channels)])
    bn = model.norm
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    head = {"head_scale": scale, "head_shift": bn.bias.detach() - scale * bn.running_mean}
    if isinstance(model.fc, nn.Linear):
        fc: nn.Module = copy.deepcopy(model.fc)
    else:
        from wiring.nn.export import export

        fc = export(model.fc, sparse=sparse)
    spec = {
        "export": "chain",
        "version": 1,
        "stages": len(stages),
        "stem_stride": int(conv.stride[0]),
        "stem_padding": int(conv.padding[0]),
    }
    return ExportedChain(spec, stem, stages, head, fc)


def _register_exporter() -> None:
    from wiring.nn.export import register_exporter

    register_exporter(MobileNetV1DNW)(_export_mobilenet_v1_dnw)


_register_exporter()
