"""Inference modules from trained models: :func:`export`.

A compiled graph trains with every candidate edge, a top-k selection in each forward pass and masked
matrices. Inference needs none of that. :func:`export` turns an eval-mode model into a module that
computes the same outputs with:

* **no candidates, masks or top-k**: only the real edges are stored;
* **dead nodes removed**: a node is kept only when some output depends on it (a path of real edges
  to a needed output); a kept node that no input reaches has a state that does not depend on the
  data (e.g. :math:`f_\\theta(0)`, a constant map): it is computed once per input size, at batch 1,
  and added to its successors as a fixed map;
* **batch norm folded** into the rows of the edge matrices (in eval mode
  :math:`\\mathrm{BN}(I_v) = s_v I_v + t_v` with :math:`s_v = \\gamma_v / \\sqrt{\\sigma_v^2 +
  \\epsilon}` and :math:`t_v = \\beta_v - s_v \\mu_v`, so :math:`\\mathrm{BN}(\\sum_u w_{uv} Z_u) =
  \\sum_u (s_v w_{uv}) Z_u + t_v`), and into a scale and shift at the input nodes;
* **compact weights per block**: the edges into a block form one matrix over the kept nodes only —
  dense (and restricted to the source columns it uses, when that saves enough) where its density is
  at least :data:`EXPORT_SPARSE_DENSITY`, CSR below;
* **channels-last depthwise convolutions**: the node ops run on (batch, position, node) data,
  several times faster on CPU than the (batch, node, position) layout of training.

Supported: ``static`` and ``discrete`` graphs with the built-in node ops (``"norm-relu-conv"`` with
batch, instance or no norm; ``"identity"``), models containing them (each graph is replaced by its
export; ``Conv → BatchNorm`` pairs inside ``nn.Sequential`` are fused; weights pruned with
``torch.nn.utils.prune`` or ``torch.ao.pruning`` have their masks applied and removed), and
:func:`wiring.models.mobilenet_v1_dnw` (whose five graphs are exported together: dead channels are
removed across graph boundaries and from the stem). Continuous-time graphs are refused: the adaptive
solver's step-size control depends on every node's state, so removing nodes would change the result.

Saving and loading: an exported graph or MobileNetV1-DNW stores its structure in its state dict
(:func:`save` / :func:`load`, or ``torch.save(m.state_dict())`` and :func:`from_state_dict`); an
export of another model is rebuilt with :func:`rebuild` from the same (untrained) model and the
saved state dict.

Examples
--------
>>> import torch, wiring
>>> from wiring import generators
>>> g = generators.complete_dag([4, 16, 16, 3], seed=0)
>>> model = wiring.compile(g, k=60).eval()
>>> fast = wiring.export(model)
>>> x = torch.randn(2, 4, 8, 8)
>>> torch.allclose(fast(x), model(x), rtol=1e-4, atol=1e-5)
True
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wiring.graph import _reachable
from wiring.nn.count import COUNTERS, CountCall, weight_mask

__all__ = [
    "EXPORTERS",
    "EXPORT_SPARSE_DENSITY",
    "MASK_BAKERS",
    "ExportedChain",
    "ExportedDiscrete",
    "ExportedStatic",
    "export",
    "export_static_chain",
    "from_state_dict",
    "load",
    "rebuild",
    "register_exporter",
    "register_mask_baker",
    "save",
]

#: Density of a block's edge matrix (real edges / (rows × columns) over kept nodes) below which the
#: export stores it as CSR. Measured for forward products on CPU (node-major states, 1 thread):
#: at 10% CSR took 6.5 ms against 18.8 ms dense, at 20% about even; see docs/benchmarks.md.
EXPORT_SPARSE_DENSITY = 0.15

#: Columns of a chunk of the exported state (examples × positions): a CSR product over 512–1,024
#: columns keeps the dense operand in cache (measured 1.5–2× faster than one product over 12,544).
CHUNK_COLUMNS = 768

#: A dense block gathers the source rows it uses (instead of multiplying by zero columns) when
#: unused columns × rows exceed this many times the used columns (a GEMM multiply-add costs about
#: 1/40 of copying a value on the benchmark machine).
_GATHER_RATIO = 40

Exporter = Callable[..., nn.Module]
#: Export rules by module type (looked up along the MRO).
EXPORTERS: dict[type, Exporter] = {}


def register_exporter(*types: type) -> Callable[[Exporter], Exporter]:
    """Decorator registering ``fn(module, *, sparse) -> nn.Module`` as the export of ``types``."""

    def deco(fn: Exporter) -> Exporter:
        for t in types:
            EXPORTERS[t] = fn
        return fn

    return deco


def _exporter_for(module: nn.Module) -> Exporter | None:
    for cls in type(module).__mro__:
        if cls in EXPORTERS:
            return EXPORTERS[cls]
    return None


# ---------------------------------------------------------------------------------------------
# public entry point


def export(model: nn.Module, *, sparse: bool | None = None) -> nn.Module:
    """An inference module computing what the eval-mode ``model`` computes, faster.

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode (``model.eval()``): a compiled static or discrete graph, a model containing
        such graphs (e.g. :class:`wiring.models.GraphClassifier`), MobileNetV1-DNW, or a plain
        model.
    sparse : bool, optional
        None (default): each block's edges are stored dense or CSR by density
        (:data:`EXPORT_SPARSE_DENSITY`); True / False: CSR / dense everywhere.

    Returns
    -------
    torch.nn.Module
        In eval mode, without gradients. Its outputs equal ``model(x)``'s up to float rounding
        (the tests ask for 1e-5 relative in float32). Its parameters are frozen: it caches values
        derived from them (CSR matrices, the constant maps of nodes no input reaches).

    Raises
    ------
    TypeError
        ``model`` is not a torch module.
    ValueError
        ``model`` (or one of its submodules) is in training mode; or it contains a graph whose
        dynamics or node op cannot be exported (continuous-time, a custom node op, batch norm
        without running statistics) — the message names the module.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
    if sparse not in (None, True, False):
        raise ValueError(f"sparse: expected None, True or False, found {sparse!r}")
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:
        raise ValueError(
            f"model: expected a model in eval mode (batch norm must use its running statistics), "
            f"found {len(training)} module(s) in training mode, e.g. {training[0]!r}; call "
            f"model.eval() first"
        )
    with torch.no_grad():
        exporter = _exporter_for(model)
        out = (
            exporter(model, sparse=sparse) if exporter is not None else _export_tree(model, sparse)
        )
    out.eval()
    for p in out.parameters():
        p.requires_grad_(False)
    return out


def _export_tree(model: nn.Module, sparse: bool | None) -> nn.Module:
    """A copy of ``model`` with every exportable submodule replaced by its export."""
    # Tensors computed by a forward pre-hook (torch.nn.utils.prune's masked weight) are not leaves
    # and cannot be deep-copied; copy them detached (the copy's hook recomputes them anyway).
    memo: dict[int, Any] = {}
    for m in model.modules():
        for name, value in vars(m).items():
            if isinstance(value, torch.Tensor) and not value.is_leaf and name != "_parameters":
                memo[id(value)] = value.detach().clone()
    out = copy.deepcopy(model, memo)
    _replace_children(out, sparse)
    _bake_masks(out)
    _fuse_conv_bn(out)
    return out


def _replace_children(module: nn.Module, sparse: bool | None) -> None:
    for name, child in list(module.named_children()):
        exporter = _exporter_for(child)
        if exporter is not None:
            setattr(module, name, exporter(child, sparse=sparse))
        else:
            _replace_children(child, sparse)


MaskBaker = Callable[[nn.Module], None]
#: Rules that apply a module's weight masks to its weights and remove the masking machinery, in
#: place (on the export's copy). Sparse sites plug in here, next to their mask provider
#: (:func:`wiring.nn.count.register_weight_mask`).
MASK_BAKERS: list[MaskBaker] = []


def register_mask_baker(baker: MaskBaker) -> MaskBaker:
    """Add ``baker(module)``: make the masked weights of ``module`` plain weights, in place."""
    MASK_BAKERS.append(baker)
    return baker


@register_mask_baker
def _bake_torch_prune(m: nn.Module) -> None:
    from torch.nn.utils import prune

    for name in [n for n, _ in m.named_parameters(recurse=False) if n.endswith("_orig")]:
        base = name[: -len("_orig")]
        if isinstance(getattr(m, f"{base}_mask", None), torch.Tensor):
            prune.remove(m, base)


@register_mask_baker
def _bake_parametrizations(m: nn.Module) -> None:
    from torch.nn.utils import parametrize

    if parametrize.is_parametrized(m):
        for name in list(m.parametrizations.keys()):
            parametrize.remove_parametrizations(m, name, leave_parametrized=True)


def _bake_masks(module: nn.Module) -> None:
    """Apply and remove weight masks (``torch.nn.utils.prune``, ``torch.ao.pruning``, bakers)."""
    for m in list(module.modules()):
        for baker in MASK_BAKERS:
            baker(m)
        masked = [n for n, _ in m.named_parameters(recurse=False) if weight_mask(m, n) is not None]
        if masked:
            raise ValueError(
                f"model: the weight {masked[0]!r} of {type(m).__name__} has a mask (from a "
                f"provider registered with wiring.nn.count.register_weight_mask) that no rule "
                f"applies; register one with wiring.nn.export.register_mask_baker"
            )


def _fuse_conv_bn(module: nn.Module) -> None:
    """Fold every ``BatchNorm`` that directly follows a convolution in an ``nn.Sequential``."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for m in module.modules():
        if not isinstance(m, nn.Sequential):
            continue
        keys = list(m._modules)
        for a, b in itertools.pairwise(keys):
            conv, bn = m._modules[a], m._modules[b]
            if (
                type(conv) in (nn.Conv1d, nn.Conv2d, nn.Conv3d)
                and isinstance(bn, nn.modules.batchnorm._BatchNorm)
                and bn.track_running_stats
                and bn.running_mean is not None
                and bn.num_features == conv.out_channels
            ):
                m._modules[a] = fuse_conv_bn_eval(conv, bn)
                m._modules[b] = nn.Identity()


# ---------------------------------------------------------------------------------------------
# reading a compiled graph


def _describe(module: nn.Module) -> str:
    return f"{type(module).__name__}(dynamics={getattr(module, 'dynamics', '?')!r})"


class _NodeOps:
    """Per-node parameters of a graph's node ops, read from its op modules.

    ``kind`` is "identity" or "conv" (norm → ReLU → depthwise convolution; no convolution for scalar
    states). ``scale``/``shift`` hold batch norm folded to :math:`s I + t`; ``gamma``/``beta`` an
    instance norm's affine; ``kernel`` each node's depthwise kernel.
    """

    def __init__(self, owner: nn.Module, n: int, spatial_dims: int) -> None:
        self.owner = owner
        self.kind: str | None = None
        self.norm: str | None = None  # "batch" (folded), "instance" or None
        self.eps = 0.0
        self.kernel_size = 1
        self.stride: dict[int, int] = {}
        self.padding = 0
        self.spatial_dims = spatial_dims
        self.scale = np.ones(n)
        self.shift = np.zeros(n)
        self.gamma = np.ones(n)
        self.beta = np.zeros(n)
        self.kernel: np.ndarray | None = None
        self.n = n

    def read(self, op: nn.Module, nodes: np.ndarray, group: int) -> None:
        """Read the op module serving ``nodes`` (its channels, in order); ``group`` labels strides."""
        from wiring.nn.ops import NormReluConv

        if isinstance(op, nn.Identity):
            kind = "identity"
        elif type(op) is NormReluConv:
            kind = "conv"
        else:
            raise ValueError(
                f"model: cannot export the node op {type(op).__name__} of "
                f"{_describe(self.owner)}; export supports node_op='norm-relu-conv' and "
                f"'identity'"
            )
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            raise ValueError(
                f"model: cannot export {_describe(self.owner)}: its blocks mix node ops "
                f"({self.kind} and {kind})"
            )
        if kind == "identity":
            return
        norm = op.norm
        idx = torch.as_tensor(np.arange(nodes.size))
        if isinstance(norm, nn.modules.batchnorm._NormBase) and (
            norm.track_running_stats and norm.running_mean is not None
        ):
            var = norm.running_var.double()[idx].numpy()
            mean = norm.running_mean.double()[idx].numpy()
            g = norm.weight.double()[idx].numpy() if norm.weight is not None else 1.0
            b = norm.bias.double()[idx].numpy() if norm.bias is not None else 0.0
            s = g / np.sqrt(var + norm.eps)
            self.scale[nodes] = s
            self.shift[nodes] = b - s * mean
            self._set_norm("batch")
        elif isinstance(norm, nn.modules.instancenorm._InstanceNorm):
            if norm.weight is not None:
                self.gamma[nodes] = norm.weight.double().numpy()
                self.beta[nodes] = norm.bias.double().numpy()
            self.eps = float(norm.eps)
            self._set_norm("instance")
        elif isinstance(norm, nn.Identity):
            self._set_norm(None)
        else:
            raise ValueError(
                f"model: cannot export the norm {type(norm).__name__} of {_describe(self.owner)} "
                f"(batch norm needs running statistics); export supports batch norm with running "
                f"statistics, instance norm and no norm"
            )
        conv = op.conv
        if isinstance(conv, nn.Identity):
            return
        k = conv.kernel_size[0]
        if self.kernel is None:
            self.kernel = np.zeros((self.n, k**self.spatial_dims))
            self.kernel_size = k
            self.padding = conv.padding[0]
        self.kernel[nodes] = conv.weight.detach().double().reshape(len(nodes), -1).numpy()
        self.stride[group] = conv.stride[0]

    def _set_norm(self, norm: str | None) -> None:
        if self.norm is not None and self.norm != norm:
            raise ValueError(f"model: cannot export {_describe(self.owner)}: mixed norms")
        self.norm = norm


def _effective_weights(module: nn.Module) -> tuple[Any, np.ndarray]:
    """The graph (NeuralGraph) and each candidate's forward weight (0 on hallucinated edges)."""
    graph = module.graph()
    real = torch.as_tensor(graph.real.copy(), device=module.weight.device)
    w = module.selection.apply(module.weight.detach(), real)
    return graph, w.detach().double().cpu().numpy()


# ---------------------------------------------------------------------------------------------
# the program: a static graph restricted to a node set, block by block


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class _Program(nn.Module):
    """A static graph over a node subset: one product and one op per block (see :meth:`run`).

    Built from a ``spec`` (JSON-able structure) and ``tensors`` (all registered as buffers), so
    that a state dict plus the spec rebuild it.
    """

    def __init__(self, spec: dict[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        self.spec = spec
        for name, t in tensors.items():
            self.register_buffer(name, t)
        self.dims = int(spec["spatial_dims"])
        self.kind = spec["kind"]
        self.norm = spec["norm"]
        self.eps = float(spec["eps"])
        self.k = int(spec["kernel_size"])
        self.pad = int(spec["padding"])
        self.stride0 = int(spec["stride0"])
        self.n_total = int(spec["n_total"])
        self.blocks = spec["blocks"]
        self._csr: dict[int, tuple[int, torch.Tensor]] = {}

    # ----------------------------------------------------------------- helpers
    def _t(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def spatial_out(self, spatial_in: Sequence[int]) -> tuple[int, ...]:
        """Spatial size after block 0 (its op may be strided: compile's ``input_stride``)."""
        if self.kind == "conv" and self.dims and self.stride0 != 1:
            return tuple(_conv_out(s, self.k, self.stride0, self.pad) for s in spatial_in)
        return tuple(spatial_in)

    def _matrix(self, b: int) -> torch.Tensor:
        blk = self.blocks[b]
        if blk["product"] != "csr":
            return self._t(f"w{b}")
        val = self._t(f"val{b}")
        cached = self._csr.get(b)
        if cached is None or cached[0] != val.data_ptr() or cached[1].device != val.device:
            a = torch.sparse_csr_tensor(
                self._t(f"crow{b}"),
                self._t(f"col{b}"),
                val,
                (blk["end"] - blk["start"], blk["start"]),
                check_invariants=False,
            )
            cached = (val.data_ptr(), a)
            self._csr[b] = cached
        return cached[1]

    def _conv(self, a: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        """Depthwise convolution of channels-last ``a`` (B, n, *S); returns (B, n, *S') channels-last."""
        n = a.shape[1]
        if self.dims == 1:  # as a 2-D convolution of height 1, channels-last
            y = F.conv2d(
                a.unsqueeze(2),
                weight.view(n, 1, 1, self.k),
                stride=(1, stride),
                padding=(0, self.pad),
                groups=n,
            )
            return y.squeeze(2)
        return F.conv2d(
            a, weight.view(n, 1, self.k, self.k), stride=stride, padding=self.pad, groups=n
        )

    def _to_channels_last(self, z: torch.Tensor) -> torch.Tensor:
        """(B, n, *S) → the same values laid out (B, *S, n)."""
        if self.dims == 2:
            return z.contiguous(memory_format=torch.channels_last)
        return z.transpose(1, 2).contiguous().transpose(1, 2)  # (B, L, n) memory

    def _op(self, b: int, h: torch.Tensor, batch: int, spatial: tuple[int, ...]) -> None:
        """Apply block ``b``'s node op in place to ``h`` (chunks, n_op, columns), node-major."""
        n = h.shape[1]
        if n == 0 or self.kind == "identity":
            return
        if not self.dims:  # scalar states: the norm is folded, no convolution
            h.relu_()
            return
        chunks = h.shape[0]
        # node-major chunks → channels-last (B, *S, n): one transposing copy per chunk
        a = h.transpose(1, 2).contiguous().view(batch, *spatial, n).movedim(-1, 1)
        if self.norm == "instance":
            a = F.instance_norm(
                a, weight=self._t(f"gamma{b}"), bias=self._t(f"beta{b}"), eps=self.eps
            )
        y = self._conv(a.relu_(), self._t(f"conv{b}"), 1)
        h.copy_(y.movedim(1, -1).reshape(chunks, -1, n).transpose(1, 2))

    @staticmethod
    def layout(batch: int, positions: int) -> int:
        """Columns per chunk of the state: at most :data:`CHUNK_COLUMNS`, and either a whole number
        of examples or a divisor of one example's positions (so fixed maps tile the chunks)."""
        if positions >= CHUNK_COLUMNS:
            d = max(d for d in range(1, CHUNK_COLUMNS + 1) if positions % d == 0)
            return d if d >= CHUNK_COLUMNS // 8 else positions
        per = max(
            d for d in range(1, batch + 1) if batch % d == 0 and d * positions <= CHUNK_COLUMNS
        )
        return per * positions

    @staticmethod
    def add_map(h: torch.Tensor, cmap: torch.Tensor, positions: int) -> None:
        """``h`` (chunks, n, cols) += ``cmap`` (n, P) at every example."""
        chunks, n, cols = h.shape
        if cols % positions == 0:
            h.view(chunks, n, cols // positions, positions).add_(cmap.view(1, n, 1, positions))
        else:  # cols divides P: chunk c holds positions [(c mod P/cols)·cols, ...) of one example
            parts = positions // cols
            h.view(chunks // parts, parts, n, cols).add_(
                cmap.view(n, parts, cols).transpose(0, 1).unsqueeze(0)
            )

    # ----------------------------------------------------------------- forward
    def run(
        self,
        x: torch.Tensor | None,
        batch: int,
        spatial_in: tuple[int, ...],
        cmaps: Mapping[int, torch.Tensor] | None = None,
        like: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[int, ...]]:
        """States of every node of the program and the spatial size after block 0.

        The state is chunk-major, ``(chunks, n_total, examples per chunk · P)``: the columns of
        chunk ``c`` are the positions of examples ``c·e .. (c+1)·e - 1``, so every product reads
        and writes contiguous, cache-sized matrices.
        """
        ref = x if x is not None else like
        assert ref is not None  # internal: one of them is given
        spatial = self.spatial_out(spatial_in)
        p = math.prod(spatial)
        cols = self.layout(batch, p)
        chunks = batch * p // cols
        buf = ref.new_empty(chunks, self.n_total, cols)
        blk0 = self.blocks[0] if self.blocks else None
        if blk0 is not None and blk0["end"] > 0:
            assert x is not None
            z = x.index_select(1, self._t("in_index")) if self.spec["select_input"] else x
            n0, n_op = blk0["end"], blk0["n_op"]
            if n_op:
                zo = z[:, :n_op] if n_op < n0 else z
                if self.kind == "identity":
                    self._write_batch_major(buf[:, :n_op], zo)
                else:
                    shape = (1, n_op) + (1,) * self.dims
                    if self.norm == "batch":
                        zo = torch.addcmul(
                            self._t("shift0").view(shape), zo, self._t("scale0").view(shape)
                        )
                    elif self.norm == "instance":
                        zo = F.instance_norm(
                            zo, weight=self._t("gamma0"), bias=self._t("beta0"), eps=self.eps
                        )
                    if self.dims:
                        a = self._to_channels_last(zo).relu_()
                        y = self._conv(a, self._t("conv0"), self.stride0)
                        buf[:, :n_op].copy_(
                            y.movedim(1, -1).reshape(chunks, cols, n_op).transpose(1, 2)
                        )
                    else:
                        self._write_batch_major(buf[:, :n_op], zo)
                        buf[:, :n_op].relu_()
            if n0 > n_op:  # input nodes that are outputs: no op
                self._write_batch_major(buf[:, n_op:n0], z[:, n_op:n0])
        for b in range(1, len(self.blocks)):
            blk = self.blocks[b]
            start, end = blk["start"], blk["end"]
            if end == start:
                continue
            bias = self._t(f"bias{b}").unsqueeze(1)
            product = blk["product"]
            if product == "none":
                buf[:, start:end].copy_(bias.expand(end - start, cols))
            else:
                matrix = self._matrix(b)
                gather = self._t(f"cols{b}") if product == "dense-cols" else None
                for c in range(chunks):
                    src = buf[c, :start] if gather is None else buf[c].index_select(0, gather)
                    torch.addmm(bias, matrix, src, out=buf[c, start:end])
            if cmaps is not None and b in cmaps:
                self.add_map(buf[:, start:end], cmaps[b], p)
            self._op(b, buf[:, start : start + blk["n_op"]], batch, spatial)
        return buf, spatial

    @staticmethod
    def _write_batch_major(h: torch.Tensor, z: torch.Tensor) -> None:
        """``h`` (chunks, n, cols) ← ``z`` (B, n, *S)."""
        chunks, n, cols = h.shape
        pm = z.reshape(z.shape[0], n, -1).transpose(1, 2).reshape(chunks, cols, n)
        h.copy_(pm.transpose(1, 2))


def _fold_rows(
    weights: np.ndarray, dst: np.ndarray, ops: _NodeOps, has_op: np.ndarray
) -> np.ndarray:
    """Edge weights into ``dst`` multiplied by the destination's folded batch-norm scale."""
    if ops.norm != "batch":
        return weights
    scale = np.where(has_op[dst], ops.scale[dst], 1.0)
    return weights * scale


def _build_program(
    *,
    block_nodes: list[tuple[np.ndarray, np.ndarray]],
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    ops: _NodeOps,
    has_op: np.ndarray,
    in_channel: np.ndarray | None,
    n_x: int,
    spatial_dims: int,
    dtype: torch.dtype,
    sparse: bool | None,
    prefix_edges: bool = True,
) -> tuple[dict[str, Any], dict[str, torch.Tensor], np.ndarray]:
    """Spec and tensors of a :class:`_Program`.

    ``block_nodes[b] = (op nodes, no-op nodes)`` in their order; ``edges`` = (src, dst, folded
    weight) between nodes of the program, every src in an earlier block than its dst;
    ``in_channel[v]`` = the channel of ``x`` feeding input node ``v``. Returns also ``pos`` (node →
    row of the state, -1 when not in the program).
    """
    n_graph = has_op.size
    pos = np.full(n_graph, -1, dtype=np.int64)
    order = np.concatenate([np.concatenate([a, c]) for a, c in block_nodes]).astype(np.int64)
    pos[order] = np.arange(order.size)
    tensors: dict[str, torch.Tensor] = {}
    blocks: list[dict[str, Any]] = []
    src, dst, w = edges
    fdt = dtype

    def t(a: Any, dt: torch.dtype = fdt) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a)).to(dt)

    start = 0
    select = False
    stride0 = ops.stride.get(0, 1)
    for b, (op_nodes, noop_nodes) in enumerate(block_nodes):
        n_b = op_nodes.size + noop_nodes.size
        end = start + n_b
        blk: dict[str, Any] = {"start": start, "end": end, "n_op": int(op_nodes.size)}
        if b == 0:
            blk["product"] = "input"
            if in_channel is not None and n_b:
                nodes0 = np.concatenate([op_nodes, noop_nodes])
                chans = in_channel[nodes0]
                tensors["in_index"] = t(chans, torch.int64)
                select = not (n_b == n_x and np.array_equal(chans, np.arange(n_x)))
            if ops.kind == "conv" and op_nodes.size:
                if ops.norm == "batch":
                    tensors["scale0"] = t(ops.scale[op_nodes])
                    tensors["shift0"] = t(ops.shift[op_nodes])
                elif ops.norm == "instance":
                    tensors["gamma0"] = t(ops.gamma[op_nodes])
                    tensors["beta0"] = t(ops.beta[op_nodes])
                if spatial_dims:
                    assert ops.kernel is not None
                    tensors["conv0"] = t(ops.kernel[op_nodes])
        else:
            into = (pos[dst] >= start) & (pos[dst] < end)
            rows = pos[dst[into]] - start
            cols = pos[src[into]]
            vals = w[into]
            nodes_b = np.concatenate([op_nodes, noop_nodes])
            bias = (
                np.where(has_op[nodes_b], ops.shift[nodes_b], 0.0)
                if ops.norm == "batch"
                else np.zeros(n_b)
            )
            tensors[f"bias{b}"] = t(bias)
            nnz = int(rows.size)
            if n_b and start and nnz:
                density = nnz / (n_b * start)
                use_csr = density < EXPORT_SPARSE_DENSITY if sparse is None else sparse
                if use_csr:
                    order_e = np.lexsort((cols, rows))
                    rows, cols, vals = rows[order_e], cols[order_e], vals[order_e]
                    crow = np.zeros(n_b + 1, dtype=np.int64)
                    np.cumsum(np.bincount(rows, minlength=n_b), out=crow[1:])
                    tensors[f"crow{b}"] = t(crow, torch.int64)
                    tensors[f"col{b}"] = t(cols, torch.int64)
                    tensors[f"val{b}"] = t(vals)
                    blk["product"] = "csr"
                else:
                    used = np.unique(cols)
                    if (start - used.size) * n_b > _GATHER_RATIO * used.size:
                        remap = np.full(start, -1, dtype=np.int64)
                        remap[used] = np.arange(used.size)
                        mat = np.zeros((n_b, used.size))
                        np.add.at(mat, (rows, remap[cols]), vals)
                        tensors[f"cols{b}"] = t(used, torch.int64)
                        blk["product"] = "dense-cols"
                    else:
                        mat = np.zeros((n_b, start))
                        np.add.at(mat, (rows, cols), vals)
                        blk["product"] = "dense"
                    tensors[f"w{b}"] = t(mat)
            else:
                blk["product"] = "none"
            if ops.kind == "conv" and op_nodes.size:
                if ops.norm == "instance":
                    tensors[f"gamma{b}"] = t(ops.gamma[op_nodes])
                    tensors[f"beta{b}"] = t(ops.beta[op_nodes])
                if spatial_dims:
                    assert ops.kernel is not None
                    tensors[f"conv{b}"] = t(ops.kernel[op_nodes])
        blocks.append(blk)
        start = end
    spec = {
        "spatial_dims": spatial_dims,
        "kind": ops.kind or "identity",
        "norm": ops.norm,
        "eps": ops.eps,
        "kernel_size": ops.kernel_size,
        "padding": ops.padding,
        "stride0": stride0,
        "n_total": int(order.size),
        "blocks": blocks,
        "select_input": bool(in_channel is not None and blocks and blocks[0]["end"] and select),
    }
    return spec, tensors, pos


# ---------------------------------------------------------------------------------------------
# exported static graph


def _spec_tensor(spec: Mapping[str, Any]) -> torch.Tensor:
    return torch.tensor(list(json.dumps(spec, sort_keys=True).encode()), dtype=torch.uint8)


def _read_spec(t: torch.Tensor) -> dict[str, Any]:
    return json.loads(bytes(t.cpu().tolist()).decode())


class _Exported(nn.Module):
    """Base of modules that carry their structure in a ``_spec`` buffer (see :func:`from_state_dict`)."""

    #: :func:`wiring.count` runs one pass first: the constant maps are computed once per input size.
    count_warmup = True

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("_spec", _spec_tensor(spec))

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        cache = getattr(self, "_const_cache", None)
        if cache is not None:
            cache.clear()
        super()._load_from_state_dict(state_dict, prefix, *args)


def _sub(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


class ExportedStatic(_Exported):
    """An exported static graph (built by :func:`export`; see the module docstring).

    ``forward(x)``: input-node states ``(B, n_x, *S)`` → output-node states ``(B, n_out, *S')``,
    as the compiled graph's forward. Holds two programs: ``data`` over the nodes some input reaches
    and some output needs, and ``const`` (run once per input size, at batch 1) over the kept nodes
    no input reaches.
    """

    def __init__(self, spec: dict[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__(spec)
        self.data = _Program(spec["data"], _sub(tensors, "data."))
        self.const = _Program(spec["const"], _sub(tensors, "const."))
        for name, t in tensors.items():
            if "." not in name:
                self.register_buffer(name, t)
        self._const_cache: dict[Any, tuple[dict[int, torch.Tensor], torch.Tensor | None]] = {}

    @property
    def num_nodes(self) -> int:
        """Nodes computed for every input: some input reaches them and some output needs them."""
        return int(self.spec["data"]["n_total"])

    @property
    def num_constant_nodes(self) -> int:
        """Nodes some output needs but no input reaches (computed once per input size)."""
        return int(self.spec["const"]["n_total"])

    @property
    def num_outputs(self) -> int:
        return int(self.spec["n_emit"])

    def constants(
        self,
        spatial_in: tuple[int, ...],
        like: torch.Tensor,
        const_in: torch.Tensor | None = None,
    ) -> tuple[dict[int, torch.Tensor], torch.Tensor | None]:
        """Fixed maps added to the data program's blocks, and the values of the constant outputs.

        ``const_in`` ``(1, n_const_inputs, *spatial_in)``: the values of constant input nodes (from
        the previous graph of a chain). Cached per input size for standalone use.
        """
        key = (spatial_in, like.dtype, like.device)
        if const_in is None and key in self._const_cache:
            return self._const_cache[key]
        spec = self.spec
        if spec["const"]["n_total"] == 0:
            result: tuple[dict[int, torch.Tensor], torch.Tensor | None] = ({}, None)
        else:
            zc, spatial = self.const.run(const_in, 1, spatial_in, like=like)
            zc = zc.transpose(0, 1).reshape(zc.shape[1], -1)  # batch 1: node-major (n_const, P)
            p = math.prod(spatial)
            maps: dict[int, torch.Tensor] = {}
            if spec["n_sc"]:
                c_all = like.new_zeros(self.data.n_total, p)
                contrib = zc.index_select(0, self.sc_src) * self.sc_w.unsqueeze(1)
                c_all.index_add_(0, self.sc_dst, contrib)
                for b, blk in enumerate(self.data.blocks):
                    if b in spec["cmap_blocks"]:
                        maps[b] = c_all[blk["start"] : blk["end"]]
            out_const = zc.index_select(0, self.const_out) if spec["n_const_out"] else None
            result = (maps, out_const)
        if const_in is None:
            self._const_cache[key] = result
        return result

    def run(
        self,
        x: torch.Tensor,
        consts: tuple[dict[int, torch.Tensor], torch.Tensor | None],
    ) -> torch.Tensor:
        """The data program on ``x`` with precomputed ``consts``; returns the emitted outputs."""
        batch, spatial_in = x.shape[0], tuple(x.shape[2:])
        maps, out_const = consts
        buf, spatial = self.data.run(x, batch, spatial_in, maps)
        p = math.prod(spatial)
        spec = self.spec
        n_emit = spec["n_emit"]
        if spec["n_emit_const"] == 0:
            out = buf if spec["emit_all_rows"] else buf.index_select(1, self.emit_pos)
        else:
            out = buf.new_zeros(buf.shape[0], n_emit, buf.shape[2])
            if n_emit > spec["n_emit_const"]:
                out.index_copy_(1, self.emit_sig_slot, buf.index_select(1, self.emit_pos))
            assert out_const is not None
            values = out_const.index_select(0, self.emit_const_rows)  # (n_const_emit, P)
            full = values.new_zeros(n_emit, p).index_copy_(0, self.emit_const_slot, values)
            self.data.add_map(out, full, p)  # the constant slots are zero before
        # (chunks, n, cols) → channels-last (B, *S, n) memory, returned as (B, n, *S)
        y = out.transpose(1, 2).reshape(batch, *spatial, n_emit)
        return y.movedim(-1, 1)

    @torch.no_grad()
    def forward(
        self,
        x: torch.Tensor,
        consts: tuple[dict[int, torch.Tensor], torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Input-node states ``(B, n_x, *S)`` → output-node states ``(B, n_out, *S')``.

        ``consts``: precomputed :meth:`constants` (a chain passes them); default: computed here
        and cached per input size.
        """
        n_x, dims = self.spec["n_x"], self.spec["data"]["spatial_dims"]
        if not isinstance(x, torch.Tensor) or x.ndim != 2 + dims or x.shape[1] != n_x:
            found = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x: expected shape (B, {n_x}{', *S' if dims else ''}) with {dims} spatial "
                f"dimension(s), found {found}"
            )
        if consts is None:
            consts = self.constants(tuple(x.shape[2:]), x)
        return self.run(x, consts)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> ExportedStatic:
        """Rebuild from a state dict (the structure is in its ``_spec`` entry)."""
        spec = _read_spec(state["_spec"])
        module = cls(spec, {k: v for k, v in state.items() if k != "_spec"})
        return module

    def extra_repr(self) -> str:
        d = self.spec["data"]
        kinds = [b["product"] for b in d["blocks"][1:]]
        return (
            f"nodes={d['n_total']}, constant_nodes={self.spec['const']['n_total']}, "
            f"inputs={self.spec['n_x']}, outputs={self.spec['n_emit']}, blocks={kinds}"
        )


def _static_export_parts(
    module: nn.Module,
    *,
    sparse: bool | None,
    graph_weights: tuple[Any, np.ndarray] | None = None,
    signal_in: np.ndarray | None = None,
    needed_out: np.ndarray | None = None,
    x_nodes: np.ndarray | None = None,
    const_nodes_in: np.ndarray | None = None,
    emit: str = "all",
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """Analyse a compiled static graph and build the spec and tensors of its export.

    Parameters
    ----------
    signal_in : bool (n_in,), optional
        Input nodes that receive data (default all); the others are constant (their values are
        given to :meth:`ExportedStatic.constants` as ``const_in``, in ``const_nodes_in`` order).
    needed_out : bool (n_in,), optional
        Output nodes some consumer needs (default all).
    x_nodes : int array, optional
        The input node fed by each channel of ``x`` (default ``graph.inputs``).
    emit : {"all", "signal"}
        Emit every needed output (constant ones filled in) or only the signal ones.

    Returns
    -------
    spec, tensors, info
        ``info``: ``input_kept`` (input nodes the outputs need), ``signal_out`` / ``const_out``
        (output nodes emitted by the data / constant program), ``const_inputs``.
    """
    graph, w_eff = _effective_weights(module) if graph_weights is None else graph_weights
    n = graph.num_nodes
    dims = module.spatial_dims
    dtype = module.weight.dtype
    inputs, outputs = graph.inputs, graph.outputs
    is_out = np.zeros(n, dtype=bool)
    is_out[outputs] = True
    has_op = ~is_out
    real = graph.real
    src, dst, w = graph.src[real], graph.dst[real], w_eff[real]
    sig_in = np.ones(inputs.size, dtype=bool) if signal_in is None else signal_in
    need = np.ones(outputs.size, dtype=bool) if needed_out is None else needed_out

    reach = _reachable(n, src, dst, inputs[sig_in])
    keep = _reachable(n, dst, src, outputs[need])  # nodes some needed output depends on
    sig = keep & reach
    const = keep & ~reach

    # node ops, per block (op channels of block b = its non-output nodes in ascending order)
    ops = _NodeOps(module, n, dims)
    levels = np.unique(graph.blocks)
    for b, level in enumerate(levels):
        nodes = np.flatnonzero(graph.blocks == level)
        op_nodes = nodes[~is_out[nodes]]
        if op_nodes.size:
            ops.read(module.ops[b], op_nodes, b)
    if ops.kind is None:
        ops.kind = "identity"

    def block_nodes(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for level in levels:
            nodes = np.flatnonzero((graph.blocks == level) & mask)
            out.append((nodes[~is_out[nodes]], nodes[is_out[nodes]]))
        return out

    x_nodes = inputs if x_nodes is None else x_nodes
    in_channel = np.full(n, -1, dtype=np.int64)
    in_channel[x_nodes] = np.arange(x_nodes.size)
    folded = _fold_rows(w, dst, ops, has_op)
    both_sig = sig[src] & sig[dst]
    data_spec, data_t, pos_sig = _build_program(
        block_nodes=block_nodes(sig),
        edges=(src[both_sig], dst[both_sig], folded[both_sig]),
        ops=ops,
        has_op=has_op,
        in_channel=in_channel,
        n_x=x_nodes.size,
        spatial_dims=dims,
        dtype=dtype,
        sparse=sparse,
    )
    const_in_nodes = inputs[const[inputs]]
    if const_nodes_in is not None:
        missing = np.setdiff1d(const_in_nodes, const_nodes_in)
        if missing.size:  # internal consistency of a chain
            raise ValueError(f"internal: constant inputs {missing.tolist()} have no value")
    c_channel = np.full(n, -1, dtype=np.int64)
    c_order = const_in_nodes if const_nodes_in is None else const_nodes_in
    c_channel[c_order] = np.arange(c_order.size)
    both_const = const[src] & const[dst]
    const_spec, const_t, pos_const = _build_program(
        block_nodes=block_nodes(const),
        edges=(src[both_const], dst[both_const], folded[both_const]),
        ops=ops,
        has_op=has_op,
        in_channel=c_channel,
        n_x=c_order.size,
        spatial_dims=dims,
        dtype=dtype,
        sparse=True,  # run once per input size: storage matters, not speed
    )
    tensors: dict[str, torch.Tensor] = {f"data.{k}": v for k, v in data_t.items()}
    tensors.update({f"const.{k}": v for k, v in const_t.items()})

    # constant sources into data rows
    sc = const[src] & sig[dst]
    tensors["sc_src"] = torch.as_tensor(pos_const[src[sc]])
    tensors["sc_dst"] = torch.as_tensor(pos_sig[dst[sc]])
    tensors["sc_w"] = torch.as_tensor(folded[sc]).to(dtype)
    cmap_blocks = sorted(
        {
            b
            for b, blk in enumerate(data_spec["blocks"])
            if np.any((pos_sig[dst[sc]] >= blk["start"]) & (pos_sig[dst[sc]] < blk["end"]))
        }
    )

    # outputs to emit
    emitted = outputs[need] if emit == "all" else outputs[need & sig[outputs]]
    emit_sig = sig[emitted]
    tensors["emit_pos"] = torch.as_tensor(pos_sig[emitted[emit_sig]])
    tensors["emit_sig_slot"] = torch.as_tensor(np.flatnonzero(emit_sig))
    tensors["emit_const_slot"] = torch.as_tensor(np.flatnonzero(~emit_sig))
    # the constant program's emitted rows: first the emitted constant outputs, then (for a chain)
    # every needed constant output, in output order
    const_outputs = outputs[need & const[outputs]]
    const_rows = np.concatenate([pos_const[emitted[~emit_sig]], pos_const[const_outputs]])
    tensors["const_out"] = torch.as_tensor(const_rows.astype(np.int64))
    tensors["emit_const_rows"] = torch.arange(int((~emit_sig).sum()))
    n_emit = int(emitted.size)
    emit_all_rows = bool(
        emit_sig.all()
        and n_emit == data_spec["n_total"]
        and np.array_equal(pos_sig[emitted], np.arange(n_emit))
    )
    spec = {
        "export": "static",
        "version": 1,
        "n_x": int(x_nodes.size),
        "n_emit": n_emit,
        "n_emit_const": int((~emit_sig).sum()),
        "emit_all_rows": emit_all_rows,
        "n_sc": int(sc.sum()),
        "cmap_blocks": cmap_blocks,
        "n_const_out": int(const_rows.size),
        "data": data_spec,
        "const": const_spec,
    }
    info = {
        "input_kept": keep[inputs],
        "input_signal": sig[inputs],
        "signal_out": emitted[emit_sig] if emit == "signal" else outputs[need & sig[outputs]],
        "const_out": const_outputs,
        "const_inputs": const_in_nodes,
    }
    return spec, tensors, info


def _export_static(module: nn.Module, *, sparse: bool | None) -> ExportedStatic:
    spec, tensors, _ = _static_export_parts(module, sparse=sparse)
    return ExportedStatic(spec, tensors)


def _export_continuous(module: nn.Module, *, sparse: bool | None) -> nn.Module:
    raise ValueError(
        f"model: cannot export the {getattr(module, 'dynamics', '?')!r} dynamics "
        f"({type(module).__name__}): the adaptive ODE solver chooses its steps from the error of "
        f"every node's state, so an export without the dead nodes would take other steps and "
        f"give other outputs; export supports 'static' and 'discrete' (use the module itself in "
        f"eval mode for inference)"
    )


def _export_unknown_graph(module: nn.Module, *, sparse: bool | None) -> nn.Module:
    raise ValueError(
        f"model: no export rule for the {getattr(module, 'dynamics', '?')!r} dynamics "
        f"({type(module).__name__}); export supports 'static' and 'discrete' (register a rule with "
        f"wiring.nn.export.register_exporter)"
    )


# ---------------------------------------------------------------------------------------------
# chains of static graphs (MobileNetV1-DNW)


def export_static_chain(
    stages: Sequence[nn.Module], *, sparse: bool | None
) -> tuple[list[ExportedStatic], np.ndarray]:
    """Export static graphs that feed each other (output ``j`` of one is input ``j`` of the next).

    Dead nodes are removed across the boundaries: an output no later graph needs is not computed,
    an input whose previous output no input reaches is constant. Each graph but the last emits only
    the outputs the next graph reads as data; the last emits all its outputs.

    Returns
    -------
    exports : list of ExportedStatic
        ``exports[0]`` reads the channels ``stem_channels`` of the first graph's input, in order.
    stem_channels : int array
        The input channels of the first graph some output depends on.
    """
    graphs = [_effective_weights(s) for s in stages]
    last = len(stages) - 1
    needed: list[np.ndarray] = [np.zeros(0, dtype=bool)] * len(stages)
    needed[last] = np.ones(graphs[last][0].outputs.size, dtype=bool)
    kept_inputs: list[np.ndarray] = [np.zeros(0, dtype=bool)] * len(stages)
    for j in range(last, -1, -1):
        g = graphs[j][0]
        src, dst = g.src[g.real], g.dst[g.real]
        kept_inputs[j] = _reachable(g.num_nodes, dst, src, g.outputs[needed[j]])[g.inputs]
        if j:
            prev = graphs[j - 1][0]
            if prev.outputs.size != g.inputs.size:
                raise ValueError(
                    f"stages: stage {j} has {g.inputs.size} inputs but stage {j - 1} has "
                    f"{prev.outputs.size} outputs"
                )
            needed[j - 1] = kept_inputs[j]
    g0 = graphs[0][0]
    stem_channels = np.flatnonzero(kept_inputs[0])
    signal = np.ones(g0.inputs.size, dtype=bool)
    x_nodes = g0.inputs[stem_channels]
    const_nodes: np.ndarray | None = None
    exports = []
    for j, stage in enumerate(stages):
        g = graphs[j][0]
        spec, tensors, info = _static_export_parts(
            stage,
            sparse=sparse,
            graph_weights=graphs[j],
            signal_in=signal,
            needed_out=needed[j],
            x_nodes=x_nodes,
            const_nodes_in=const_nodes,
            emit="signal" if j < last else "all",
        )
        exports.append(ExportedStatic(spec, tensors))
        if j < last:
            nxt = graphs[j + 1][0]
            slot = np.full(g.num_nodes, -1, dtype=np.int64)
            slot[g.outputs] = np.arange(g.outputs.size)
            sig_idx = slot[info["signal_out"]]
            signal = np.zeros(nxt.inputs.size, dtype=bool)
            signal[sig_idx] = True
            x_nodes = nxt.inputs[sig_idx]
            const_nodes = nxt.inputs[slot[info["const_out"]]]
    return exports, stem_channels


class ExportedChain(_Exported):
    """Stem convolution → exported static graphs in a chain → batch norm, ReLU, average pool →
    classifier (a linear layer or an exported graph of scalar nodes): the export of
    MobileNetV1-DNW.

    The constant maps of every graph (nodes no input reaches) are computed once per input size,
    passing constant outputs from one graph to the next.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        stem: nn.Conv2d,
        stages: Sequence[ExportedStatic],
        head: Mapping[str, torch.Tensor],
        fc: nn.Module,
    ) -> None:
        super().__init__(spec)
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        for name, t in head.items():
            self.register_buffer(name, t)
        self.fc = fc
        self._const_cache: dict[Any, list[Any]] = {}

    def _constants(self, spatial: tuple[int, ...], like: torch.Tensor) -> list[Any]:
        key = (spatial, like.dtype, like.device)
        cached = self._const_cache.get(key)
        if cached is not None:
            return cached
        out = []
        const_in: torch.Tensor | None = None
        for stage in self.stages:
            assert isinstance(stage, ExportedStatic)
            maps, const_out = stage.constants(spatial, like, const_in=const_in)
            out.append((maps, const_out))
            spatial = stage.data.spatial_out(spatial)
            const_in = None if const_out is None else const_out.view(1, -1, *spatial)
        self._const_cache[key] = out
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` → logits ``(B, num_classes)``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.stem.in_channels:
            found = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x: expected images (B, {self.stem.in_channels}, H, W), found {found}"
            )
        stem = self.stem
        if stem.out_channels:
            z = stem(x.contiguous(memory_format=torch.channels_last))
        else:  # no input of the first graph matters: the logits are data-independent
            size = [
                _conv_out(s, stem.kernel_size[i], stem.stride[i], int(stem.padding[i]))  # type: ignore[index]
                for i, s in enumerate(x.shape[2:])
            ]
            z = x.new_empty(x.shape[0], 0, *size)
        for stage, consts in zip(self.stages, self._constants(tuple(z.shape[2:]), z), strict=True):
            assert isinstance(stage, ExportedStatic)
            z = stage(z, consts)
        shape = (1, -1, 1, 1)
        z = torch.addcmul(self.head_shift.view(shape), z, self.head_scale.view(shape)).relu_()
        return self.fc(z.mean(dim=(2, 3)))

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> ExportedChain:
        """Rebuild from a state dict (the structure is in its ``_spec`` entries)."""
        spec = _read_spec(state["_spec"])
        w = state["stem.weight"]
        stem = nn.Conv2d(
            w.shape[1],
            w.shape[0],
            w.shape[2],
            stride=spec["stem_stride"],
            padding=spec["stem_padding"],
            bias=False,
        )
        stages = [
            ExportedStatic.from_state_dict(_sub(state, f"stages.{j}."))
            for j in range(spec["stages"])
        ]
        fc_state = _sub(state, "fc.")
        if "_spec" in fc_state:
            fc: nn.Module = from_state_dict(fc_state)
        else:
            fc = nn.Linear(fc_state["weight"].shape[1], fc_state["weight"].shape[0])
        head = {k: state[k] for k in ("head_scale", "head_shift")}
        module = cls(spec, stem, stages, head, fc)
        module.load_state_dict(state, strict=True)
        return module

    def extra_repr(self) -> str:
        return f"stem_channels={self.stem.out_channels}"


# ---------------------------------------------------------------------------------------------
# exported discrete-time graph


class ExportedDiscrete(_Exported):
    """An exported discrete-time graph: :math:`Z(t) = f(A^\\top Z(t-1))` over the kept nodes.

    Kept: nodes from which an output node can be reached over real edges (the others never affect
    an output). Batch norm is folded into the rows of :math:`A`; the operator is dense or CSR by
    density. ``forward(x)`` as the compiled graph's.
    """

    def __init__(self, spec: dict[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__(spec)
        for name, t in tensors.items():
            self.register_buffer(name, t)
        self._csr: tuple[int, torch.Tensor] | None = None
        s = spec
        self.dims, self.kind, self.norm = s["spatial_dims"], s["kind"], s["norm"]
        self.k, self.pad, self.eps = s["kernel_size"], s["padding"], s["eps"]
        self.n, self.n_op, self.steps = s["n"], s["n_op"], s["steps"]

    def _matrix(self) -> torch.Tensor:
        if self.spec["product"] != "csr":
            return self.w
        if self._csr is None or self._csr[0] != self.val.data_ptr():
            a = torch.sparse_csr_tensor(
                self.crow, self.col, self.val, (self.n, self.n), check_invariants=False
            )
            self._csr = (self.val.data_ptr(), a)
        return self._csr[1]

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input-node states ``(B, n_in, *S)`` → output-node states ``(B, n_out, *S)``."""
        n_in, dims = self.spec["n_x"], self.dims
        if not isinstance(x, torch.Tensor) or x.ndim != 2 + dims or x.shape[1] != n_in:
            found = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x: expected shape (B, {n_in}{', *S' if dims else ''}), found {found}"
            )
        batch, spatial = x.shape[0], tuple(x.shape[2:])
        p = math.prod(spatial)
        n, n_op = self.n, self.n_op
        xin = x.index_select(1, self.in_index).reshape(batch, -1, p).transpose(0, 1)
        xin = xin.reshape(-1, batch * p)  # node-major (n_kept_inputs, B·P)
        z = x.new_zeros(n, batch * p)
        z.index_copy_(0, self.in_pos, xin)
        inject = self.spec["inject_input"]
        if inject and self.norm == "batch":
            xin_scaled = xin * self.in_scale.unsqueeze(1)
        else:
            xin_scaled = xin
        a = self._matrix()
        bias = self.bias.unsqueeze(1)
        conv_w = getattr(self, "conv", None)
        for _ in range(self.steps):
            i = torch.addmm(bias, a, z)
            if inject:
                i.index_add_(0, self.in_pos, xin_scaled)
            if n_op and self.kind == "conv":
                head = i[:n_op]
                if self.norm == "instance":
                    head.copy_(
                        F.instance_norm(
                            head.view(1, n_op * batch, p),
                            weight=self.gamma.repeat_interleave(batch),
                            bias=self.beta.repeat_interleave(batch),
                            eps=self.eps,
                        ).view(n_op, -1)
                    )
                if conv_w is None:
                    head.relu_()
                else:
                    act = head.new_empty(head.shape[1], n_op)
                    torch.clamp(head.t(), min=0, out=act)
                    act = act.view(batch, *spatial, n_op).movedim(-1, 1)
                    if dims == 1:
                        y = F.conv2d(
                            act.unsqueeze(2),
                            conv_w.view(n_op, 1, 1, self.k),
                            padding=(0, self.pad),
                            groups=n_op,
                        ).squeeze(2)
                    else:
                        y = F.conv2d(
                            act, conv_w.view(n_op, 1, self.k, self.k), padding=self.pad, groups=n_op
                        )
                    head.copy_(y.movedim(1, -1).reshape(-1, n_op).t())
            z = i
        out = z.index_select(0, self.out_pos)
        return out.view(-1, batch, *spatial).transpose(0, 1)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> ExportedDiscrete:
        """Rebuild from a state dict (the structure is in its ``_spec`` entry)."""
        spec = _read_spec(state["_spec"])
        return cls(spec, {k: v for k, v in state.items() if k != "_spec"})

    def extra_repr(self) -> str:
        return (
            f"nodes={self.n}, steps={self.steps}, product={self.spec['product']!r}, "
            f"inputs={self.spec['n_x']}"
        )


def _export_discrete(module: nn.Module, *, sparse: bool | None) -> ExportedDiscrete:
    graph, w_eff = _effective_weights(module)
    n = graph.num_nodes
    dims, dtype = module.spatial_dims, module.weight.dtype
    inputs, outputs = graph.inputs, graph.outputs
    is_out = np.zeros(n, dtype=bool)
    is_out[outputs] = True
    real = graph.real
    src, dst, w = graph.src[real], graph.dst[real], w_eff[real]
    keep = _reachable(n, dst, src, outputs)  # nodes an output can be reached from
    keep[outputs] = True
    # the compiled module's op serves every non-output node, in ascending order
    op_all = np.flatnonzero(~is_out)
    ops = _NodeOps(module, n, dims)
    if op_all.size:
        ops.read(module.op, op_all, 0)
    if ops.kind is None:
        ops.kind = "identity"
    if ops.stride.get(0, 1) != 1:
        raise ValueError(f"model: cannot export {_describe(module)}: strided node ops")
    op_nodes = np.flatnonzero(keep & ~is_out)
    noop_nodes = np.flatnonzero(keep & is_out)
    order = np.concatenate([op_nodes, noop_nodes])
    pos = np.full(n, -1, dtype=np.int64)
    pos[order] = np.arange(order.size)
    has_op = ~is_out
    folded = _fold_rows(w, dst, ops, has_op)
    e = keep[src] & keep[dst]
    rows, cols, vals = pos[dst[e]], pos[src[e]], folded[e]
    m = int(order.size)
    bias = np.where(has_op[order], ops.shift[order], 0.0) if ops.norm == "batch" else np.zeros(m)

    def t(a: Any, dt: torch.dtype = dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a)).to(dt)

    tensors = {"bias": t(bias)}
    density = rows.size / max(m * m, 1)
    use_csr = (density < EXPORT_SPARSE_DENSITY) if sparse is None else sparse
    if use_csr:
        o = np.lexsort((cols, rows))
        crow = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=m), out=crow[1:])
        tensors.update(crow=t(crow, torch.int64), col=t(cols[o], torch.int64), val=t(vals[o]))
    else:
        mat = np.zeros((m, m))
        np.add.at(mat, (rows, cols), vals)
        tensors["w"] = t(mat)
    kept_in = np.flatnonzero(keep[inputs])
    tensors["in_index"] = t(kept_in, torch.int64)
    tensors["in_pos"] = t(pos[inputs[kept_in]], torch.int64)
    tensors["out_pos"] = t(pos[outputs], torch.int64)
    in_nodes = inputs[kept_in]
    tensors["in_scale"] = t(
        np.where(has_op[in_nodes], ops.scale[in_nodes], 1.0)
        if ops.norm == "batch"
        else np.ones(in_nodes.size)
    )
    if ops.kind == "conv" and op_nodes.size:
        if ops.norm == "instance":
            tensors["gamma"] = t(ops.gamma[op_nodes])
            tensors["beta"] = t(ops.beta[op_nodes])
        if dims and ops.kernel is not None:
            tensors["conv"] = t(ops.kernel[op_nodes])
    spec = {
        "export": "discrete",
        "version": 1,
        "spatial_dims": dims,
        "kind": ops.kind,
        "norm": ops.norm,
        "eps": ops.eps,
        "kernel_size": ops.kernel_size,
        "padding": ops.padding,
        "n": m,
        "n_op": int(op_nodes.size),
        "n_x": int(inputs.size),
        "steps": int(module.steps),
        "inject_input": bool(module.inject_input),
        "product": "csr" if use_csr else "dense",
    }
    return ExportedDiscrete(spec, tensors)


def _register_graph_exporters() -> None:
    from wiring.nn.dynamics import Continuous, Discrete, GraphModule, Static

    EXPORTERS[GraphModule] = _export_unknown_graph
    EXPORTERS[Static] = _export_static
    EXPORTERS[Discrete] = _export_discrete
    EXPORTERS[Continuous] = _export_continuous


_register_graph_exporters()


# ---------------------------------------------------------------------------------------------
# counting exported modules (wiring.count)


def _program_macs(prog: _Program, batch_positions: int, spatial_in: int) -> tuple[int, int]:
    """(multiply-adds, stored values) of one data program for ``batch_positions`` output positions."""
    macs = params = 0
    k = prog.k**prog.dims if prog.dims else 0
    for b, blk in enumerate(prog.blocks):
        n_op = blk["n_op"]
        if prog.kind == "conv":
            macs += n_op * k * batch_positions
            params += n_op * (k + (2 if prog.norm else 0))
        if b == 0:
            continue
        product = blk["product"]
        if product == "csr":
            nnz = int(prog._t(f"val{b}").numel())
        elif product in ("dense", "dense-cols"):
            nnz = int(prog._t(f"w{b}").numel())
        else:
            nnz = 0
        macs += nnz * batch_positions
        params += nnz + (blk["end"] - blk["start"])
    return macs, params


def _count_exported(call: CountCall) -> dict[str, Any]:
    m = call.module
    out = call.output
    positions = int(np.prod(out.shape[2:], dtype=np.int64)) if out.ndim > 2 else 1
    if isinstance(m, ExportedStatic):
        macs, params = _program_macs(m.data, positions, 0)
        params += sum(t.numel() for name, t in m.const.named_buffers()) + int(m.sc_w.numel())
    else:
        product = m.spec["product"]
        nnz = int(m.val.numel() if product == "csr" else m.w.numel())
        k = m.k**m.dims if m.dims and m.kind == "conv" else 0
        macs = m.steps * (nnz + m.n_op * k) * positions
        params = nnz + m.n + m.n_op * k
    return {"params": params, "macs": macs, "params_dense": params, "macs_dense": macs}


COUNTERS[ExportedStatic] = _count_exported
COUNTERS[ExportedDiscrete] = _count_exported


# ---------------------------------------------------------------------------------------------
# saving and loading

#: Classes rebuilt from a state dict's ``_spec``, by the spec's ``kind``.
BUILDERS: dict[str, Callable[[Mapping[str, torch.Tensor]], nn.Module]] = {
    "static": ExportedStatic.from_state_dict,
    "discrete": ExportedDiscrete.from_state_dict,
    "chain": ExportedChain.from_state_dict,
}


def from_state_dict(state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Rebuild an exported graph or MobileNetV1-DNW from its state dict alone.

    The state dict holds the structure (a ``_spec`` entry); use :func:`rebuild` for an export of
    another model.

    Examples
    --------
    >>> import torch, wiring
    >>> from wiring import generators
    >>> fast = wiring.export(wiring.compile(generators.complete_dag([2, 6, 2]), k=10).eval())
    >>> again = from_state_dict(fast.state_dict())
    >>> x = torch.randn(1, 2, 5, 5)
    >>> torch.equal(again(x), fast(x))
    True
    """
    if not isinstance(state, Mapping) or "_spec" not in state:
        raise ValueError(
            "state: expected the state dict of an exported graph or MobileNetV1-DNW (with a "
            "'_spec' entry); for an export of another model use wiring.nn.export.rebuild"
        )
    spec = _read_spec(state["_spec"])
    kind = spec.get("export")
    if kind not in BUILDERS:
        raise ValueError(f"state: unknown export kind {kind!r}; expected one of {sorted(BUILDERS)}")
    module = BUILDERS[kind](state)
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def rebuild(template: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Rebuild the export of a model from the same model (e.g. untrained) and the export's state dict.

    Every exportable submodule of ``template`` is replaced by the export stored in ``state`` under
    its name, conv–batch-norm pairs are fused and masks applied as :func:`export` does, then
    ``state`` is loaded (strictly).
    """
    if not isinstance(template, nn.Module):
        raise TypeError(f"template: expected a torch.nn.Module, found {type(template).__name__}")
    if "_spec" in state:
        return from_state_dict(state)
    out = copy.deepcopy(template).eval()

    def replace(module: nn.Module, prefix: str) -> None:
        for name, child in list(module.named_children()):
            key = f"{prefix}{name}."
            if _exporter_for(child) is not None:
                sub = _sub(state, key)
                if "_spec" not in sub:
                    raise ValueError(
                        f"state: expected an exported module under {key!r} (the export of "
                        f"{type(child).__name__}), found none"
                    )
                setattr(module, name, from_state_dict(sub))
            else:
                replace(child, key)

    replace(out, "")
    _bake_masks(out)
    _fuse_conv_bn(out)
    out.load_state_dict(state, strict=True)
    return out.eval()


def save(module: nn.Module, path: str | os.PathLike[str]) -> None:
    """Write an exported module's state dict to ``path`` (atomically); read it with :func:`load`."""
    from wiring._io import atomic_torch_save

    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, found {type(module).__name__}")
    atomic_torch_save(module.state_dict(), path)


def load(path: str | os.PathLike[str], *, template: nn.Module | None = None) -> nn.Module:
    """Read an export written by :func:`save` (``torch.load(weights_only=True)``).

    Exported graphs and MobileNetV1-DNW rebuild from the file alone; an export of another model
    needs the model as ``template`` (see :func:`rebuild`).
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "_spec" in state or template is None:
        return from_state_dict(state)
    return rebuild(template, state)
