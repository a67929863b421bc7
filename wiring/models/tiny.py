"""The DNW paper's tiny classifier (Wortsman et al., 2019, section 3.1) and its candidate graph.

:func:`tiny_classifier` builds a :class:`~wiring.models.parts.GraphClassifier`: a strided stem, an
800-node graph with k = 32,000 real edges (static, discrete-time or continuous-time dynamics) and a
pooled linear head. Its sizes and solver settings are the option object
:class:`~wiring.options.TinyClassifierSizes` (defined with the other option objects in
:mod:`wiring.options`, re-exported here), which also checks them. Its ``formulation`` picks an
entry of :data:`FORMULATIONS`: ``"paper"`` (here) or ``"original"`` (the authors' code,
:mod:`wiring.models.original`); :func:`register_formulation` adds one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wiring.graph import NeuralGraph
from wiring.models.parts import _SPATIAL, GraphClassifier, _check_choice
from wiring.options import (
    TINY_DYNAMICS,
    TINY_FORMULATION,
    TINY_SELECTION,
    TinyClassifierSizes,
    check,
)

__all__ = [
    "FORMULATIONS",
    "Formulation",
    "TinyClassifierSizes",
    "register_formulation",
    "tiny_classifier",
    "tiny_classifier_graph",
]


def _sizes(overrides: dict[str, Any]) -> TinyClassifierSizes:
    names = {f.name for f in dataclasses.fields(TinyClassifierSizes)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(
            f"tiny_classifier: unknown override {unknown[0]!r}; expected one of {', '.join(sorted(names))}"
        )
    return TinyClassifierSizes(**overrides)


def tiny_classifier_graph(
    dynamics: str = "static", *, formulation: str = "paper", **overrides: Any
) -> NeuralGraph:
    """The candidate graph of the tiny classifier (weights uniform in (-1, 1), unscaled).

    Static: a complete DAG over the blocks of :meth:`TinyClassifierSizes.static_blocks` (inputs are
    block 0, the last ``num_outputs`` nodes are the last block, an edge u→v exists when
    block(u) < block(v)). Dynamic: the complete digraph on ``num_nodes`` nodes with the first
    ``num_inputs`` as inputs and the last ``num_outputs`` as outputs.

    Parameters
    ----------
    dynamics : {"static", "discrete", "continuous"}
    formulation : {"paper", "original"}
        ``"original"``: the authors' candidates (:func:`wiring.models.original.original_graph`).
    **overrides
        Fields of :class:`TinyClassifierSizes` (only the sizes matter here).

    Examples
    --------
    >>> g = tiny_classifier_graph("static", num_nodes=12, num_inputs=2, num_outputs=3, block_size=4)
    >>> g.num_nodes, g.outputs.tolist(), g.num_blocks
    (12, [9, 10, 11], 4)
    """
    check("dynamics", dynamics, str, TINY_DYNAMICS)
    check("formulation", formulation, str, TINY_FORMULATION)
    return FORMULATIONS[formulation].graph(dynamics, _sizes(overrides))


@dataclass(frozen=True)
class Formulation:
    """One reading of the tiny classifier, an entry of :data:`FORMULATIONS`.

    Attributes
    ----------
    name : str
        The ``formulation`` keyword of :func:`tiny_classifier`.
    graph : callable
        ``graph(dynamics, sizes) -> NeuralGraph``: the candidate graph (weights uniform in (-1, 1)).
    build : callable
        ``build(graph, *, dynamics, selection, k, spatial_dims, in_channels, num_classes, sizes,
        options) -> GraphClassifier``: the model around the (selected, scaled) candidate graph;
        ``selection`` is ``"dnw"``, ``"dnw-no-update"`` or ``"fixed"`` and ``options`` the solver
        and norm options of :func:`wiring.compile`.
    num_candidates : callable, optional
        ``num_candidates(dynamics, sizes) -> int``: the number of candidates of ``graph(dynamics,
        sizes)`` in closed form, without building it (None: :meth:`count` builds the graph and
        counts). Read by :meth:`TinyClassifierSizes.num_candidates`, which checks ``k``.
    """

    name: str
    graph: Callable[[str, TinyClassifierSizes], NeuralGraph]
    build: Callable[..., GraphClassifier]
    num_candidates: Callable[[str, TinyClassifierSizes], int] | None = None

    def count(self, dynamics: str, sizes: TinyClassifierSizes) -> int:
        """Candidate edges of this formulation's graph for ``dynamics`` and ``sizes``."""
        if self.num_candidates is not None:
            return int(self.num_candidates(dynamics, sizes))
        return self.graph(dynamics, sizes).num_candidates


#: The formulations of :func:`tiny_classifier`: ``"paper"`` (this module) and ``"original"``
#: (:mod:`wiring.models.original`, the authors' code). Add one with :func:`register_formulation`.
FORMULATIONS: dict[str, Formulation] = {}


def register_formulation(formulation: Formulation) -> Formulation:
    """Add ``formulation`` to :data:`FORMULATIONS` under its name and return it."""
    if not isinstance(formulation, Formulation):
        raise TypeError(f"formulation: expected a Formulation, found {type(formulation).__name__}")
    FORMULATIONS[formulation.name] = formulation
    return formulation


def _paper_graph(dynamics: str, s: TinyClassifierSizes) -> NeuralGraph:
    from wiring import generators

    if dynamics == "static":
        return generators.complete_dag(s.static_blocks(), seed=s.graph_seed)
    return generators.complete_digraph(
        s.num_nodes,
        inputs=np.arange(s.num_inputs),
        outputs=np.arange(s.num_nodes - s.num_outputs, s.num_nodes),
        seed=s.graph_seed,
    )


def _paper_build(
    graph: NeuralGraph,
    *,
    dynamics: str,
    selection: str,
    k: int | None,
    spatial_dims: int,
    in_channels: int,
    num_classes: int,
    sizes: TinyClassifierSizes,
    options: dict[str, Any],
) -> GraphClassifier:
    return GraphClassifier.from_graph(
        graph,
        in_channels=in_channels,
        num_classes=num_classes,
        spatial_dims=spatial_dims,
        dynamics=dynamics,
        selection=selection,
        k=k,
        stem_stride=sizes.stem_stride,
        pool_window=sizes.pool_window,
        **options,
    )


def _paper_num_candidates(dynamics: str, s: TinyClassifierSizes) -> int:
    """Candidates of :func:`_paper_graph` (formula in :meth:`TinyClassifierSizes.num_candidates`)."""
    n = s.num_nodes
    if dynamics == "static":
        return (n * n - sum(b * b for b in s.static_blocks())) // 2
    return n * (n - 1)


register_formulation(Formulation("paper", _paper_graph, _paper_build, _paper_num_candidates))


def tiny_classifier(
    *,
    dynamics: str = "static",
    selection: str = "dnw",
    spatial_dims: int = 2,
    in_channels: int = 3,
    num_classes: int = 10,
    formulation: str = "paper",
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
    formulation : {"paper", "original"}
        ``"paper"``: the equations as the paper writes them (this docstring);
        ``"original"``: the computation of the authors' released code
        (:mod:`wiring.models.original`; the differences, point by point, are in
        docs/architecture.md). Any name in :data:`FORMULATIONS`
        (:func:`wiring.options.tiny_classifier_formulations`).
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
    Static layout. The authors' code runs five blocks of 32 | 192 192 192 192 nodes, the last 100
    nodes (the outputs) inside the last block: they carry an op like every node, receive from
    every block including their own (output → output entries and self-loops) and their state is
    their summed input. This formulation keeps only the candidates of a DAG 32 | 192 192 192 92 |
    100: five blocks with node operations (the paper's "5 blocks") and an output block that only
    sums, which is *not* the same computation; ``formulation="original"`` is theirs.

    Parameter count (:func:`parameter_counts`, "paper"): 32,000 edges + node operations + stem 1,248
    + head 1,010; with 11 parameters (InstanceNorm affine 2 + 3×3 kernel 9) at each of the 700
    non-output nodes that is 41,958 — the paper's "41k" (its code says "less than 42k").
    """
    check("dynamics", dynamics, str, TINY_DYNAMICS)
    check("selection", selection, str, TINY_SELECTION)
    _check_choice("spatial_dims", spatial_dims, _SPATIAL)
    check("formulation", formulation, str, TINY_FORMULATION)
    form = FORMULATIONS[formulation]
    s = _sizes(overrides)
    s.check_k(dynamics, formulation)
    graph = form.graph(dynamics, s)
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
    return form.build(
        graph,
        dynamics=dynamics,
        selection=compile_selection,
        k=k,
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        num_classes=num_classes,
        sizes=s,
        options=options,
    )
