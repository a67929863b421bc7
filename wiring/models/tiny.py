"""The DNW paper's tiny classifier (Wortsman et al., 2019, section 3.1) and its candidate graph.

:func:`tiny_classifier` builds a :class:`~wiring.models.parts.GraphClassifier`: a strided stem, an
800-node graph with k = 32,000 real edges (static, discrete-time or continuous-time dynamics) and a
pooled linear head. Its sizes and solver settings are the option object
:class:`~wiring.options.TinyClassifierSizes` (defined with the other option objects in
:mod:`wiring.options`, re-exported here), which also checks them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from wiring.graph import NeuralGraph
from wiring.models.parts import _SPATIAL, GraphClassifier, _check_choice
from wiring.options import TINY_DYNAMICS, TINY_SELECTION, TinyClassifierSizes, check

__all__ = ["TinyClassifierSizes", "tiny_classifier", "tiny_classifier_graph"]


def _sizes(overrides: dict[str, Any]) -> TinyClassifierSizes:
    names = {f.name for f in dataclasses.fields(TinyClassifierSizes)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(
            f"tiny_classifier: unknown override {unknown[0]!r}; expected one of {', '.join(sorted(names))}"
        )
    return TinyClassifierSizes(**overrides)


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
    check("dynamics", dynamics, str, TINY_DYNAMICS)
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
        :data:`wiring.options.TINY_DYNAMICS`.
    selection : str
        A rule of the selection registry that picks ``k`` edges, or ``"random"``
        (:func:`wiring.options.tiny_classifier_selections`). ``"dnw"``: the k largest |w| are real,
        every candidate trained (Algorithm 1); ``"dnw-no-update"``: the paper's ablation without
        the update rule for hallucinated edges; ``"random"``: the random-graph baseline, k edges
        drawn uniformly (:func:`wiring.generators.random_k` with ``graph_seed``) and kept fixed.
    spatial_dims : {2, 1, 0}
        Data ``(B, in_channels, H, W)``, ``(B, in_channels, L)`` or ``(B, in_channels)``.
    in_channels, num_classes : int
    **overrides
        Fields of :class:`TinyClassifierSizes` (``num_nodes``, ``num_inputs``, ``num_outputs``,
        ``block_size``, ``k``, ``steps``, ``t1``, ``method``, ``rtol``, ``atol``, ``adjoint``,
        ``step_size``, ``stem_stride``, ``norm``, ``graph_seed``, ``pool_window``,
        ``weight_scale``), checked by it.

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
    check("dynamics", dynamics, str, TINY_DYNAMICS)
    check("selection", selection, str, TINY_SELECTION)
    _check_choice("spatial_dims", spatial_dims, _SPATIAL)
    s = _sizes(overrides)
    s.check_k(dynamics)
    graph = tiny_classifier_graph(dynamics, **overrides)
    norm = None if s.norm == "none" else s.norm
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
