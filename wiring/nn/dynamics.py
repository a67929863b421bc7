"""Compiled graph modules, one class per dynamics, and their registry.

Notation (Wortsman et al., *Discovering Neural Wirings*, NeurIPS 2019, sec. 2): node ``v`` has state
:math:`Z_v` (one channel: a scalar, a 1-D signal or a 2-D map) and input
:math:`I_v = \\sum_u w_{uv} Z_u`, i.e. :math:`I = A^\\top Z` with :math:`A[u, v] = w_{uv}` over the
edges the selection rule makes real. Every non-output node applies its op,
:math:`Z_v = f_{\\theta_v}(I_v)`; output nodes have no op (:math:`Z_v = I_v`). Input nodes take the
module's input as their :math:`I_v`.

* ``static`` (eqs. 1–2): a DAG run block by block; one masked matrix product (dense or CSR, see
  :mod:`wiring.nn.edges`) over the states of all earlier blocks, then one grouped op per block.
* ``discrete`` (eqs. 10–12): :math:`Z(t) = f_\\theta(A^\\top Z(t-1))` for ``t = 1..steps``, all nodes
  synchronously; :math:`Z_{V_0}(0)` is the input, the rest start at zero.
* ``continuous`` (eq. 13): :math:`\\dot Z = f_\\theta(A^\\top Z)` from 0 to ``t1`` with torchdiffeq.

The equations 1, 2, 11–13 were not extracted from the paper's text; the forms above are
reconstructed from the surrounding prose (sec. 2.3: "At each time step we send information through
the edges using :math:`A_G` then apply a function at each node").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from wiring.graph import NeuralGraph
from wiring.nn.edges import EdgeBlock
from wiring.nn.ops import make_node_op_factory
from wiring.nn.selection import Selection, make_selection

__all__ = [
    "DYNAMICS",
    "Continuous",
    "ContinuousTime",
    "Discrete",
    "GraphModule",
    "Static",
    "register_dynamics",
]

DYNAMICS: dict[str, type[GraphModule]] = {}


def register_dynamics(name: str) -> Callable[[type[GraphModule]], type[GraphModule]]:
    """Class decorator adding a :class:`GraphModule` subclass to :data:`DYNAMICS` as ``name``."""

    def deco(cls: type[GraphModule]) -> type[GraphModule]:
        cls.dynamics = name
        DYNAMICS[name] = cls
        return cls

    return deco


def _to_nodes(z: torch.Tensor) -> torch.Tensor:
    """(B, c, *S) -> node-major (c, B*P), the layout of message passing (one GEMM per product)."""
    return z.transpose(0, 1).reshape(z.shape[1], -1)


def _from_nodes(z: torch.Tensor, batch: int, spatial: tuple[int, ...]) -> torch.Tensor:
    """node-major (c, B*P) -> (B, c, *S), as a transposed view."""
    return z.view(z.shape[0], batch, *spatial).transpose(0, 1)


class GraphModule(nn.Module):
    """Base of compiled graphs: candidate weights, the selection rule and the node ops.

    Subclasses set :attr:`options` (their own keyword options with defaults) and override
    :meth:`run`. ``forward(x)`` computes the effective edge weights once and calls ``run``.

    Attributes
    ----------
    weight : nn.Parameter, shape (m,)
        Candidate edge weights :math:`w`, in the graph's candidate order (with a stored-mask
        selection such as ``"fixed"``, 0 on hallucinated candidates). ``weight`` with
        ``selection`` is a *site* (:func:`wiring.sites` lists it): after a backward pass,
        ``selection.effective_grad`` holds the gradient of the loss with respect to the effective
        weights at every candidate, real or not.
    selection : Selection
        The edge-selection rule (its mask is the real-edge mask).
    """

    dynamics: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    default_norm: ClassVar[str | None] = "batch"

    def __init__(
        self,
        graph: NeuralGraph,
        *,
        spatial_dims: int,
        selection: str | Selection,
        k: int | Mapping[int, int] | None,
        node_op: Any,
        norm: Any,
        kernel_size: int,
        dtype: torch.dtype,
        sparse: bool | None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.sparse = sparse
        self.num_nodes = graph.num_nodes
        self._blocks = graph.blocks
        self._src_np = graph.src
        self._dst_np = graph.dst
        self.register_buffer("inputs", torch.as_tensor(graph.inputs.copy()), persistent=False)
        self.register_buffer("outputs", torch.as_tensor(graph.outputs.copy()), persistent=False)
        self.num_inputs = int(graph.inputs.size)
        self.num_outputs = int(graph.outputs.size)
        self.weight = nn.Parameter(torch.tensor(graph.weight, dtype=dtype))
        self.selection: Selection = make_selection(
            selection,
            weight=self.weight,
            k=k,
            real=torch.as_tensor(graph.real.copy()),
            groups=torch.as_tensor(graph.blocks[graph.dst]),
        )
        if self.selection.stored:  # a stored-mask site keeps its inactive weights at exactly 0
            with torch.no_grad():
                self.weight.masked_fill_(~self.selection.mask(self.weight), 0)
        if norm == "default":
            norm = self.default_norm if spatial_dims > 0 else None
        self._op_factory = make_node_op_factory(node_op, norm=norm, kernel_size=kernel_size)
        for key, value in options.items():
            setattr(self, key, value)
        is_output = np.zeros(graph.num_nodes, dtype=bool)
        is_output[graph.outputs] = True
        self._is_output = is_output

    # -------------------------------------------------------------- helpers for subclasses
    def _node_op(self, nodes: np.ndarray) -> tuple[nn.Module | None, torch.Tensor | None, bool]:
        """An op over the non-output ``nodes`` (in the given order) and where they sit.

        Returns ``(op, positions, all_nodes)``: ``positions`` indexes the non-output nodes within
        ``nodes``; ``all_nodes`` is True when every node has an op (no index needed).
        """
        keep = np.flatnonzero(~self._is_output[nodes])
        if keep.size == 0:
            return None, None, False
        op = self._op_factory(int(keep.size), self.spatial_dims)
        return op, torch.as_tensor(keep), keep.size == nodes.size

    @staticmethod
    def _apply_op(
        op: nn.Module | None, positions: torch.Tensor | None, all_nodes: bool, i: torch.Tensor
    ) -> torch.Tensor:
        """``f(I)`` on the nodes that have an op, ``I`` unchanged on output nodes."""
        if op is None:
            return i
        if all_nodes:
            return op(i)
        assert positions is not None  # internal invariant, not user input
        return i.index_copy(1, positions, op(i.index_select(1, positions)))

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor, found {type(x).__name__}")
        want = 2 + self.spatial_dims
        shape = (
            "(B, inputs)"
            if self.spatial_dims == 0
            else ("(B, inputs, L)" if self.spatial_dims == 1 else "(B, inputs, H, W)")
        )
        if x.ndim != want or x.shape[1] != self.num_inputs:
            raise ValueError(
                f"x: expected shape {shape} with inputs={self.num_inputs} for spatial_dims="
                f"{self.spatial_dims}, found {tuple(x.shape)}"
            )

    # -------------------------------------------------------------- public API
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map input-node states (B, len(inputs), *S) to output-node states (B, len(outputs), *S)."""
        self._check_input(x)
        # Once per forward pass, shared by every time step / ODE evaluation.
        with torch.no_grad():
            real = self.selection.forward_mask(self.weight.detach())
        w = self.selection.apply(self.weight, real)
        return self.run(x, w, real)

    def run(self, x: torch.Tensor, w: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Execute the dynamics with effective weights ``w`` and real mask ``real`` (both (m,))."""
        raise NotImplementedError

    def real_mask(self) -> torch.Tensor:
        """The real-edge mask the next forward pass will use, bool, shape (m,)."""
        with torch.no_grad():
            return self.selection.mask(self.weight.detach())

    @property
    def k(self) -> int:
        """Number of real edges in every forward pass."""
        k = getattr(self.selection, "k", None)
        return int(k) if isinstance(k, int) else int(self.real_mask().sum())

    def graph(self) -> NeuralGraph:
        """The current wiring: candidate weights as they are now and the next forward's real mask."""
        return NeuralGraph(
            self._src_np,
            self._dst_np,
            self.weight.detach().cpu().double().numpy(),
            num_nodes=self.num_nodes,
            blocks=self._blocks,
            inputs=self.inputs.cpu().numpy(),
            outputs=self.outputs.cpu().numpy(),
            real=self.real_mask().cpu().numpy(),
        )

    def extra_repr(self) -> str:
        return (
            f"dynamics={self.dynamics!r}, nodes={self.num_nodes}, "
            f"candidates={self.weight.numel()}, spatial_dims={self.spatial_dims}"
        )


@register_dynamics("static")
class Static(GraphModule):
    """A DAG executed block by block.

    For block :math:`b` with nodes :math:`V_b` and earlier nodes :math:`V_{<b}`:
    :math:`I_{V_b} = W_b Z_{V_{<b}}` (one matrix product, :math:`W_b[v, u] = w_{uv}` masked to
    real edges), then :math:`Z_{V_b} = f(I_{V_b})` with one grouped convolution. Block 0 is exactly
    the input nodes; its input :math:`I` is the module input.

    Options
    -------
    input_stride : int
        Stride of the input nodes' convolution (default 1). With 2, block 0's op halves the spatial
        size (rounding up) and every later block runs at the reduced size: DNW sec. 2.4, "when the
        spatial resolution decreases in MobileNetV1 we change the convolutional stride of the input
        nodes to 2". Needs a node op with a convolution and no output node in block 0.
    """

    options: ClassVar[dict[str, Any]] = {"input_stride": 1}
    input_stride: int

    def __init__(self, graph: NeuralGraph, **kw: Any) -> None:
        super().__init__(graph, **kw)
        blocks = graph.blocks
        levels = np.unique(blocks)
        n = graph.num_nodes
        if graph.inputs.size == 0:
            raise ValueError("graph: static dynamics needs input nodes (graph.inputs is empty)")
        block0 = np.flatnonzero(blocks == levels[0])
        if set(block0.tolist()) != set(graph.inputs.tolist()):
            raise ValueError(
                f"graph: static dynamics needs the input nodes to be exactly block {int(levels[0])}; "
                f"found {block0.size} nodes in that block and {graph.inputs.size} inputs "
                f"(e.g. node {int(np.setxor1d(block0, graph.inputs)[0])} is in one set only)"
            )
        bad = np.flatnonzero(blocks[graph.src] >= blocks[graph.dst])
        if bad.size:
            e = int(bad[0])
            u, v = int(graph.src[e]), int(graph.dst[e])
            raise ValueError(
                f"graph: static dynamics needs every candidate edge to go into a later block; "
                f"found {bad.size} that do not, e.g. candidate {e}: {u}->{v} "
                f"(block {int(blocks[u])} -> block {int(blocks[v])})"
            )
        order = np.argsort(blocks, kind="stable")  # nodes grouped by block
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        level_of = np.searchsorted(levels, blocks)
        sizes = np.bincount(level_of, minlength=levels.size)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        lv = level_of[graph.dst]
        self.edges = nn.ModuleList()  # edges into block b (b >= 1) from every earlier node
        for b in range(1, levels.size):
            cand = np.flatnonzero(lv == b)
            rows, cols = pos[graph.dst[cand]] - starts[b], pos[graph.src[cand]]
            self.edges.append(
                EdgeBlock(cand, rows, cols, int(sizes[b]), int(starts[b]), sparse=self.sparse)
            )
        self._sizes = sizes.tolist()
        # Channel i of the input is node graph.inputs[i]; block 0 holds them in node order.
        rank = np.empty(n, dtype=np.int64)
        rank[graph.inputs] = np.arange(graph.inputs.size)
        self.register_buffer("_in_perm", torch.as_tensor(rank[order[: sizes[0]]]), persistent=False)
        self.register_buffer("_out_pos", torch.as_tensor(pos[graph.outputs]), persistent=False)
        self.ops = nn.ModuleList()
        self._op_flags: list[tuple[bool, bool]] = []  # (has an op, every node of the block has one)
        for b in range(levels.size):
            op, positions, all_nodes = self._node_op(order[starts[b] : starts[b + 1]])
            self.ops.append(op if op is not None else nn.Identity())
            self._op_flags.append((op is not None, all_nodes))
            if positions is not None and not all_nodes:
                self.register_buffer(f"_op_pos_{b}", positions, persistent=False)
        if self.input_stride != 1:
            self.ops[0] = self._strided_input_op(int(sizes[0]))

    def _strided_input_op(self, channels: int) -> nn.Module:
        """Block 0's op built with ``stride=input_stride`` (the ``input_stride`` option)."""
        import inspect

        if self.spatial_dims == 0:
            raise ValueError(
                f"input_stride: scalar node states (spatial_dims=0) have no stride, found "
                f"input_stride={self.input_stride}"
            )
        if not all(self._op_flags[0]):
            raise ValueError(
                f"input_stride: every input node needs an op to take the stride, found output "
                f"nodes in block 0 (input_stride={self.input_stride})"
            )
        try:
            params = inspect.signature(self._op_factory).parameters.values()
        except (TypeError, ValueError):  # a callable without a readable signature
            params = []
        if not any(p.name == "stride" or p.kind is p.VAR_KEYWORD for p in params):
            f = self._op_factory
            name = getattr(f, "__qualname__", None) or getattr(
                getattr(f, "func", f), "__qualname__", ""
            )
            raise ValueError(
                f"input_stride: expected a node op whose factory takes stride= (e.g. "
                f"node_op='norm-relu-conv'), found the factory {name or type(f).__name__!r} "
                f"(input_stride={self.input_stride})"
            )
        return self._op_factory(channels, self.spatial_dims, stride=self.input_stride)

    def _op(self, b: int, i: torch.Tensor) -> torch.Tensor:
        has_op, all_nodes = self._op_flags[b]
        if not has_op:  # a block of output nodes only
            return i
        pos = None if all_nodes else getattr(self, f"_op_pos_{b}")
        return self._apply_op(self.ops[b], pos, all_nodes, i)

    def run(self, x: torch.Tensor, w: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        z0 = self._op(0, x.index_select(1, self._in_perm))
        spatial = tuple(z0.shape[2:])  # after block 0, whose op may be strided (input_stride)
        states = [_to_nodes(z0)]  # node-major (n_b, B*P), one per block
        for b, edges in enumerate(self.edges, start=1):
            prev = states[0] if b == 1 else torch.cat(states, dim=0)
            i = edges.prepare(w, real)(prev)  # (n_b, B*P)
            states.append(_to_nodes(self._op(b, _from_nodes(i, batch, spatial).contiguous())))
        out = torch.cat(states, dim=0).index_select(0, self._out_pos)
        return _from_nodes(out, batch, spatial).contiguous()


class _Dynamic(GraphModule):
    """Shared set-up of the dynamic (recurrent) settings: one n×n operator and one node op.

    The state is kept node-major, shape (n, B, *S), in an internal node order with the nodes that
    have an op first and the output nodes last: message passing then reads the state without a
    transpose, and the op runs on a leading slice (no gather/scatter of node subsets).
    """

    def __init__(self, graph: NeuralGraph, **kw: Any) -> None:
        super().__init__(graph, **kw)
        n = graph.num_nodes
        if graph.inputs.size == 0:
            raise ValueError(
                f"graph: {self.dynamics} dynamics needs input nodes (graph.inputs is empty)"
            )
        order = np.concatenate([np.flatnonzero(~self._is_output), np.flatnonzero(self._is_output)])
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)  # node -> internal position
        self.edges = EdgeBlock(
            np.arange(graph.num_candidates),
            pos[graph.dst],
            pos[graph.src],
            n,
            n,
            sparse=self.sparse,
        )
        self._num_op = int((~self._is_output).sum())
        op = self._op_factory(self._num_op, self.spatial_dims) if self._num_op else None
        self.op = op if op is not None else nn.Identity()
        self._has_op = op is not None
        self.register_buffer("_in_pos", torch.tensor(pos[graph.inputs]), persistent=False)
        self.register_buffer("_out_pos", torch.tensor(pos[graph.outputs]), persistent=False)

    def _initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """Node-major Z(0), shape (n, B, *S): the input at the input nodes, zero elsewhere."""
        z = x.new_zeros(self.num_nodes, x.shape[0], *x.shape[2:])
        return z.index_copy(0, self._in_pos, x.transpose(0, 1))

    def _update(self, edges: Any, z: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        """:math:`f(A^\\top Z)` (plus ``x`` at the input nodes when given); z is (n, B, *S)."""
        n = z.shape[0]
        i = edges(z.reshape(n, -1)).view(z.shape)
        if x is not None:
            i = i.index_add(0, self._in_pos, x.transpose(0, 1))
        if not self._has_op:
            return i
        p = self._num_op
        # The op sees (B, p, *S); a contiguous copy is cheaper than norm/conv on a strided view.
        head = self.op(i[:p].transpose(0, 1).contiguous()).transpose(0, 1)
        return torch.cat([head, i[p:]], dim=0) if p < n else head.contiguous()

    def _read_outputs(self, z: torch.Tensor) -> torch.Tensor:
        """Output nodes' states, (B, len(outputs), *S), from a node-major state."""
        return z.index_select(0, self._out_pos).transpose(0, 1).contiguous()


@register_dynamics("discrete")
class Discrete(_Dynamic):
    """:math:`Z(t) = f_\\theta(A^\\top Z(t-1))`, ``t = 1..steps``, all nodes updated synchronously.

    Options
    -------
    steps : int
        Number of time steps (default 5, as in DNW sec. 3.1).
    inject_input : bool
        Add the input to the input nodes' :math:`I` at every step (sequence models), not only use it
        as :math:`Z(0)`.
    """

    options: ClassVar[dict[str, Any]] = {"steps": 5, "inject_input": False}
    steps: int
    inject_input: bool

    def __init__(self, graph: NeuralGraph, **kw: Any) -> None:
        super().__init__(graph, **kw)
        # Z(0) is zero outside the inputs and only outputs are read at the last step: the weight
        # gradient of those steps needs a fraction of the full GEMM.
        self.edges.skip_zero_rows = True

    def run(self, x: torch.Tensor, w: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        edges = self.edges.prepare(w, real)
        z = self._initial_state(x)
        for _ in range(self.steps):
            z = self._update(edges, z, x if self.inject_input else None)
        return self._read_outputs(z)


class _ODEFunc(nn.Module):
    """The vector field of a continuous-time module (its ``_field``); ``edges`` is set per forward."""

    def __init__(self, owner: ContinuousTime) -> None:
        super().__init__()
        self._owner = [owner]  # a list, so the owner is not registered as a submodule (no cycle)
        self.edges: Any = None
        self.nfe = 0

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self._owner[0]._field(self.edges, z)


class ContinuousTime:
    """Mixin of the continuous-time graph modules: the solver options and the integration.

    A subclass (listed before its :class:`GraphModule` base) provides ``edges`` (an
    :class:`~wiring.nn.edges.EdgeBlock`), ``op`` (the node ops, whose trainable parameters are the
    adjoint's besides ``weight``), ``_initial_state(x)``, the vector field ``_field(edges, z)`` and
    ``_read_outputs(z)``; :meth:`run` integrates :math:`\\dot Z = \\text{field}(Z)` from 0 to
    ``t1`` with torchdiffeq and reads the outputs at ``t1``.

    Options
    -------
    t1 : float
        End time (default 1.0).
    method : str
        torchdiffeq solver (default ``"dopri5"``).
    rtol, atol : float
        Solver tolerances (default 1e-3 each).
    adjoint : bool
        Use ``odeint_adjoint``; the edge weights and the node-op parameters are passed as
        ``adjoint_params``.
    solver_options : dict or None
        Passed to torchdiffeq as ``options`` (e.g. ``{"step_size": 0.25}`` for fixed-step methods).
    """

    options: ClassVar[dict[str, Any]] = {
        "t1": 1.0,
        "method": "dopri5",
        "rtol": 1e-3,
        "atol": 1e-3,
        "adjoint": False,
        "solver_options": None,
    }
    t1: float
    method: str
    rtol: float
    atol: float
    adjoint: bool
    solver_options: dict[str, Any] | None
    edges: EdgeBlock
    op: nn.Module
    weight: nn.Parameter

    def __init__(self, graph: NeuralGraph, **kw: Any) -> None:
        super().__init__(graph, **kw)  # the GraphModule base, next in the MRO
        self.func = _ODEFunc(self)

    @property
    def nfe(self) -> int:
        """Number of vector-field evaluations so far (forward and adjoint)."""
        return self.func.nfe

    def _field(self, edges: Any, z: torch.Tensor) -> torch.Tensor:
        """The vector field at state ``z`` (message passing with ``edges``); a subclass's."""
        raise NotImplementedError

    def run(self, x: torch.Tensor, w: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        import torchdiffeq

        self.func.edges = self.edges.prepare(w, real)
        z0 = self._initial_state(x)
        t = torch.tensor([0.0, float(self.t1)], dtype=x.dtype, device=x.device)
        kwargs: dict[str, Any] = {"rtol": self.rtol, "atol": self.atol, "method": self.method}
        if self.solver_options:
            kwargs["options"] = dict(self.solver_options)
        if self.adjoint:
            # The vector field depends on the edge weights (through the effective weights, built
            # once above) and the node-op parameters: the adjoint integrates their gradients. Its
            # vector-Jacobian products reach `weight` through the selection rule, so the
            # straight-through gradient of hallucinated edges is kept.
            params = (self.weight, *(p for p in self.op.parameters() if p.requires_grad))
            zt = torchdiffeq.odeint_adjoint(self.func, z0, t, adjoint_params=params, **kwargs)
        else:
            zt = torchdiffeq.odeint(self.func, z0, t, **kwargs)
        return self._read_outputs(zt[-1])


@register_dynamics("continuous")
class Continuous(ContinuousTime, _Dynamic):
    """:math:`\\dot Z = f_\\theta(A^\\top Z)`, integrated by torchdiffeq from 0 to ``t1``.

    Options
    -------
    t1, method, rtol, atol, adjoint, solver_options
        The solver's (:class:`ContinuousTime`): dopri5 from 0 to 1 at rtol = atol = 1e-3 by
        default.

    The default norm is instance norm: batch-norm running statistics would be updated at every
    ODE evaluation.
    """

    default_norm: ClassVar[str | None] = "instance"

    def _field(self, edges: Any, z: torch.Tensor) -> torch.Tensor:
        """:math:`f(A^\\top Z)` for the node-major state ``z``."""
        return self._update(edges, z, None)
