"""The DNW authors' own formulation of the tiny classifier's graphs, as registered dynamics.

:mod:`wiring.nn.dynamics` implements the equations as the paper writes them (every non-output node
applies :math:`f = \\text{conv} \\circ \\text{ReLU} \\circ \\text{norm}` to its summed input,
output nodes only sum). The authors' released code (``models/graphs/neuralgraph.py`` of
allenai/dnw) computes something slightly different; this module offers that computation as three
more entries of the dynamics registry, so that a paper's figures can be reproduced with the
computation that produced them:

``"static-original"`` (:class:`OriginalStatic`)
    The DAG block by block with the paper's op (norm → ReLU → depthwise conv) at **every** node,
    the output nodes included: the outputs sit in the last block, their op reads the input they
    received from the earlier blocks, and the last block sends messages to the outputs (output →
    output entries and self-loops among them). The output state is

    .. math::

        Z_{\\mathcal V_E} = I^{<L}_{\\mathcal V_E} + W_{\\mathcal V_E, L}\\,
        f\\bigl(I^{<L}_{V_L}\\bigr),

    with :math:`I^{<L}` the input received from blocks before the last, :math:`V_L` the last block.
``"discrete-original"`` (:class:`OriginalDiscrete`)
    :math:`Y(t) = \\text{norm}\\bigl(A^\\top\\, \\text{conv}(\\text{ReLU}(Y(t-1)))\\bigr)` at every node
    (inputs and outputs included), self-loops among the candidates; :math:`Y(0)` is the input at
    the input nodes and zero elsewhere, so the inputs pass through ReLU and the convolution before
    their first message, and the output nodes' states are normalised.
``"continuous-original"`` (:class:`OriginalContinuous`)
    :math:`\\dot Y = \\text{norm}\\bigl(A^\\top\\, \\text{conv}(\\text{ReLU}(Y))\\bigr)` over all nodes —
    a different ODE from the paper's :math:`\\dot Z = \\text{conv}(\\text{ReLU}(\\text{norm}(A^\\top
    Z)))`, not a change of variables of it. The authors' vector field applies an in-place ReLU to
    the solver's own state (``nn.ReLU(inplace=True)`` on the tensor torchdiffeq passes in), which
    clips the state the solver keeps; that is a bug and is **not** reproduced here: the vector
    field leaves its argument unchanged.

In discrete time the original is the paper's recurrence under the change of variables
:math:`Z = \\text{conv}(\\text{ReLU}(Y))` except at the two ends (the input nodes' first state and the
output nodes' last one) and at the output nodes, which have an op here and none in the paper's.

Candidate sets: the dynamic graphs of the original formulation include self-loops (the authors'
800 × 800 matrix has a diagonal); the static one adds the last block → output entries. Only
usable candidates are ever ranked (the authors' static code ranks all :math:`n^2` entries, of
which about 41 % can carry a message, so their k = 32,000 selects about 13,000 usable edges; see
:func:`wiring.models.load_original_state_dict`).

References
----------
Wortsman, Farhadi, Rastegari, "Discovering Neural Wirings", NeurIPS 2019, sec. 3.1 and the
authors' code (allenai/dnw, ``models/graphs/neuralgraph.py``, ``models/graphs/util.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from wiring.graph import NeuralGraph
from wiring.nn.dynamics import ContinuousTime, GraphModule, register_dynamics
from wiring.nn.edges import EdgeBlock
from wiring.nn.ops import depthwise_conv, norm_layer

__all__ = ["OriginalContinuous", "OriginalDiscrete", "OriginalStatic", "ReluConvNorm"]


class ReluConvNorm(nn.Module):
    """The authors' dynamic node op, split around the message passing.

    :meth:`before` is :math:`\\text{conv}(\\text{ReLU}(Y))` (one depthwise convolution, no bias,
    one channel per node), applied to a node's state before it is sent; :meth:`after` is the norm,
    applied to the summed input :math:`A^\\top(\\cdot)`. One update is
    ``after(A.T @ before(Y))``.

    Parameters
    ----------
    channels : int
        Number of nodes.
    spatial_dims : {0, 1, 2}
        Node states ``(B, c)``, ``(B, c, L)`` or ``(B, c, H, W)``; with 0 there is no convolution.
    norm : {"instance", "batch", None}
        The norm of :meth:`after` (instance norm with affine parameters, as the authors').
    kernel_size : int
        Width of the depthwise kernel (3).
    """

    def __init__(
        self,
        channels: int,
        spatial_dims: int,
        *,
        norm: str | None = "instance",
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.conv = depthwise_conv(channels, spatial_dims, kernel_size)
        self.norm = norm_layer(norm, channels, spatial_dims)

    def before(self, y: torch.Tensor) -> torch.Tensor:
        """:math:`\\text{conv}(\\text{ReLU}(Y))`, shape kept; ``y`` itself is not modified."""
        return self.conv(torch.relu(y))

    def after(self, i: torch.Tensor) -> torch.Tensor:
        """The norm of the summed input, shape kept."""
        return self.norm(i)


def _resolve(kw: dict[str, Any], default_norm: str | None) -> tuple[str | None, int]:
    """The norm and kernel size of an original-formulation module; its node op is fixed."""
    if kw["node_op"] not in ("norm-relu-conv", "default"):
        raise ValueError(
            f"node_op: the original formulation's node op is fixed (the authors'), expected "
            f"'norm-relu-conv' or 'default', found {kw['node_op']!r}"
        )
    norm = kw["norm"]
    if norm == "default":
        norm = default_norm if kw["spatial_dims"] > 0 else None
    return norm, int(kw["kernel_size"])


class _OriginalDynamic(GraphModule):
    """Shared set-up of the authors' recurrent graphs: one n × n operator, an op at every node."""

    default_norm: ClassVar[str | None] = "instance"

    def __init__(self, graph: NeuralGraph, **kw: Any) -> None:
        norm, kernel_size = _resolve(kw, self.default_norm)
        super().__init__(graph, **kw)
        if graph.inputs.size == 0:
            raise ValueError(
                f"graph: {self.dynamics} dynamics needs input nodes (graph.inputs is empty)"
            )
        n = graph.num_nodes
        self.edges = EdgeBlock(
            np.arange(graph.num_candidates), graph.dst, graph.src, n, n, sparse=self.sparse
        )
        self.op = ReluConvNorm(n, self.spatial_dims, norm=norm, kernel_size=kernel_size)
        self.register_buffer("_in_idx", torch.as_tensor(graph.inputs.copy()), persistent=False)
        self.register_buffer("_out_idx", torch.as_tensor(graph.outputs.copy()), persistent=False)

    def _initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """Y(0), shape (B, n, *S): the input at the input nodes, zero elsewhere."""
        y = x.new_zeros(x.shape[0], self.num_nodes, *x.shape[2:])
        return y.index_copy(1, self._in_idx, x)

    def _read_outputs(self, y: torch.Tensor) -> torch.Tensor:
        """The output nodes' states, (B, len(outputs), *S)."""
        return y.index_select(1, self._out_idx)

    def _update(self, edges: Any, y: torch.Tensor) -> torch.Tensor:
        """:math:`\\text{norm}(A^\\top \\text{conv}(\\text{ReLU}(Y)))` for ``y`` of shape (B, n, *S)."""
        batch, spatial = y.shape[0], tuple(y.shape[2:])
        z = self.op.before(y)
        i = edges(z.transpose(0, 1).reshape(self.num_nodes, -1))  # node-major (n, B*P)
        i = i.view(self.num_nodes, batch, *spatial).transpose(0, 1).contiguous()
        return self.op.after(i)


@register_dynamics("discrete-original")
class OriginalDiscrete(_OriginalDynamic):
    """The authors' discrete-time graph: :math:`Y(t) = \\text{norm}(A^\\top\\,\\text{conv}(\\text{ReLU}(Y(t-1))))`.

    ``t = 1..steps``, every node updated synchronously, outputs read at ``t = steps``.

    Options
    -------
    steps : int
        Number of time steps (5, the authors' ``layers``).
    """

    options: ClassVar[dict[str, Any]] = {"steps": 5}
    steps: int

    def run(self, x: torch.Tensor, w: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        edges = self.edges.prepare(w, real)
        y = self._initial_state(x)
        for _ in range(self.steps):
            y = self._update(edges, y)
        return self._read_outputs(y)


@register_dynamics("continuous-original")
class OriginalContinuous(ContinuousTime, _OriginalDynamic):
    """The authors' continuous-time graph, without their in-place ReLU on the solver state.

    :math:`\\dot Y = \\text{norm}(A^\\top\\,\\text{conv}(\\text{ReLU}(Y)))` over all nodes from 0 to
    ``t1``; the outputs are read at ``t1``.

    Options
    -------
    t1, method, rtol, atol, adjoint, solver_options
        As for ``"continuous"`` (:class:`wiring.nn.dynamics.ContinuousTime`); the authors': dopri5
        from 0 to 1 at rtol = atol = 1e-3.
    """

    def _field(self, edges: Any, y: torch.Tensor) -> torch.Tensor:
        """:math:`\\text{norm}(A^\\top \\text{conv}(\\text{ReLU}(Y)))`; ``y`` is left unchanged."""
        return self._update(edges, y)


@register_dynamics("static-original")
class OriginalStatic(GraphModule):
    """The authors' static graph: an op at every node, the outputs inside the last block.

    Blocks run in order; block :math:`b` receives :math:`I_{V_b} = W_b Z_{V_{<b}}` from every
    earlier block and applies the op (norm → ReLU → depthwise conv, as ``"static"``) to all its
    nodes. The output nodes must lie in the last block :math:`L`; they also receive from the last
    block itself (candidates :math:`u \\to v` with both ends in block :math:`L` and :math:`v` an
    output, self-loops included), and their state is their input from the earlier blocks plus that
    message (module docstring). Candidates not of these two kinds are refused.
    """

    options: ClassVar[dict[str, Any]] = {}
    default_norm: ClassVar[str | None] = "instance"

    def __init__(self, graph: NeuralGraph, **kw: Any) -> None:
        super().__init__(graph, **kw)
        blocks = graph.blocks
        levels = np.unique(blocks)
        n = graph.num_nodes
        if graph.inputs.size == 0 or levels.size < 2:
            raise ValueError(
                "graph: static-original dynamics needs input nodes and at least two blocks, found "
                f"{graph.inputs.size} inputs and {levels.size} block(s)"
            )
        block0 = np.flatnonzero(blocks == levels[0])
        if set(block0.tolist()) != set(graph.inputs.tolist()):
            raise ValueError(
                f"graph: static-original dynamics needs the input nodes to be exactly block "
                f"{int(levels[0])}; found {block0.size} nodes in that block and "
                f"{graph.inputs.size} inputs"
            )
        level_of = np.searchsorted(levels, blocks)
        last = levels.size - 1
        not_last = np.flatnonzero(level_of[graph.outputs] != last)
        if not_last.size:
            v = int(graph.outputs[not_last[0]])
            raise ValueError(
                f"graph: static-original dynamics needs every output node in the last block "
                f"({int(levels[last])}); output node {v} is in block {int(blocks[v])}"
            )
        is_output = self._is_output
        ls, ld = level_of[graph.src], level_of[graph.dst]
        forward_edge = ls < ld
        output_entry = (ls == last) & (ld == last) & is_output[graph.dst]
        bad = np.flatnonzero(~(forward_edge | output_entry))
        if bad.size:
            e = int(bad[0])
            u, v = int(graph.src[e]), int(graph.dst[e])
            raise ValueError(
                f"graph: static-original dynamics needs every candidate to go into a later block "
                f"or from the last block to an output; found {bad.size} that do not, e.g. "
                f"candidate {e}: {u}->{v} (block {int(blocks[u])} -> block {int(blocks[v])})"
            )
        order = np.argsort(blocks, kind="stable")
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        sizes = np.bincount(level_of, minlength=levels.size)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        self.edges = nn.ModuleList()
        for b in range(1, levels.size):
            cand = np.flatnonzero(forward_edge & (ld == b))
            rows, cols = pos[graph.dst[cand]] - starts[b], pos[graph.src[cand]]
            self.edges.append(
                EdgeBlock(cand, rows, cols, int(sizes[b]), int(starts[b]), sparse=self.sparse)
            )
        out_rank = np.full(n, -1, dtype=np.int64)
        out_rank[graph.outputs] = np.arange(graph.outputs.size)
        cand = np.flatnonzero(output_entry)
        self.output_edges = EdgeBlock(
            cand,
            out_rank[graph.dst[cand]],
            pos[graph.src[cand]] - starts[last],
            int(graph.outputs.size),
            int(sizes[last]),
            sparse=self.sparse,
        )
        rank = np.empty(n, dtype=np.int64)
        rank[graph.inputs] = np.arange(graph.inputs.size)
        self.register_buffer("_in_perm", torch.as_tensor(rank[order[: sizes[0]]]), persistent=False)
        self.register_buffer(
            "_out_rows", torch.as_tensor(pos[graph.outputs] - starts[last]), persistent=False
        )
        self.ops = nn.ModuleList(self._op_factory(int(s), self.spatial_dims) for s in sizes)

    def run(self, x: torch.Tensor, w: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        batch, spatial = x.shape[0], tuple(x.shape[2:])

        def to_nodes(z: torch.Tensor) -> torch.Tensor:
            return z.transpose(0, 1).reshape(z.shape[1], -1)

        def from_nodes(i: torch.Tensor) -> torch.Tensor:
            return i.view(i.shape[0], batch, *spatial).transpose(0, 1).contiguous()

        states = [to_nodes(self.ops[0](x.index_select(1, self._in_perm)))]
        i = states[0]
        for b, edges in enumerate(self.edges, start=1):
            i = edges.prepare(w, real)(torch.cat(states, dim=0) if b > 1 else states[0])
            states.append(to_nodes(self.ops[b](from_nodes(i))))
        # i: the last block's input from the earlier blocks; states[-1]: its op's output.
        out = i.index_select(0, self._out_rows) + self.output_edges.prepare(w, real)(states[-1])
        return from_nodes(out)
