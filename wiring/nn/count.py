"""Parameters and multiply-adds of one inference pass, counting what inference computes.

:func:`count` runs the model once on a batch of one and adds up, layer by layer:

* **convolutions and linear layers**: :math:`\\text{MACs} = \\frac{|Y|}{c_{\\text{out}}}\\,
  \\operatorname{nnz}(W)` — every weight entry is used once per output position (``|Y|`` is the
  number of output elements). With a dense weight this is torch's
  :class:`~torch.utils.flop_counter.FlopCounterMode` count divided by two; with a mask
  (``torch.nn.utils.prune``, ``torch.ao.pruning``, or any rule registered with
  :func:`register_weight_mask`) only the real weights count.
* **compiled graphs** (DNW, Wortsman et al. 2019, sec. 2.4 and the authors' profiler): the real
  edges, each a multiply-add per position of its destination's state, and the node op of a node
  only when the node has both an input (an input node, or a real edge in) and an output (a real
  edge out). Output nodes have no op. A node without either is *dead*: its op is skipped.
  Discrete-time graphs repeat this every step; continuous-time graphs once per evaluation of the
  vector field made by the solver in this pass.
* **chained graphs**: when a graph's input is, unchanged, the output of another graph (as in
  MobileNetV1-DNW), an input node has an input only if the matching output node of the previous
  graph has one; when it is the output of a convolution or linear layer used by nothing else, the
  output channels feeding input nodes without an edge out are not counted (as DNW counts its first
  convolution).

Any multiply-add :class:`~torch.utils.flop_counter.FlopCounterMode` sees outside the counted
layers (a functional ``F.conv2d`` or a matmul in a custom ``forward``) is added as an ``"(other)"``
entry, so for a model without masks or graphs ``macs`` is FlopCounterMode's count halved. Batch
norm, activations and pooling are not counted, as in the MobileNet and DNW papers.

``params`` counts every parameter of the model, with a graph's candidate weights replaced by its
real edges, its node-op parameters counted for live nodes only, and masked weights by their real
entries. ``params_dense`` / ``macs_dense`` count as if every candidate and weight were real.

Examples
--------
>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 10))
>>> c = count(net, (3, 4, 4))
>>> c["macs"] == 8 * 3 * 9 * 16 + 8 * 16 * 10, c["params"] == 8 * 27 + 8 + 1280 + 10
(True, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "COUNTERS",
    "CountCall",
    "count",
    "node_liveness",
    "register_counter",
    "register_weight_mask",
    "weight_mask",
]


# ---------------------------------------------------------------------------------------------
# weight masks: how a "site" (a weight and a bool mask of the same shape) plugs in

MaskProvider = Callable[[nn.Module, str], "torch.Tensor | None"]
_MASK_PROVIDERS: list[MaskProvider] = []


def register_weight_mask(provider: MaskProvider) -> MaskProvider:
    """Add a rule that finds the real-entry mask of a module's weight.

    ``provider(module, name)`` returns a bool tensor of the shape of ``getattr(module, name)`` (True
    where the weight is real) or None when it does not know the module. :func:`count` and
    :func:`wiring.export` ask the providers in order (last registered first). Sparse sites plug in
    here.
    """
    _MASK_PROVIDERS.insert(0, provider)
    return provider


@register_weight_mask
def _torch_prune_mask(module: nn.Module, name: str) -> torch.Tensor | None:
    # torch.nn.utils.prune: `<name>_orig` parameter and `<name>_mask` buffer.
    mask = getattr(module, f"{name}_mask", None)
    if isinstance(mask, torch.Tensor) and hasattr(module, f"{name}_orig"):
        return mask != 0
    return None


@register_weight_mask
def _parametrization_mask(module: nn.Module, name: str) -> torch.Tensor | None:
    # torch.ao.pruning: a parametrization (FakeSparsity) holding a `mask` buffer.
    plist = getattr(getattr(module, "parametrizations", None), name, None)
    if plist is None:
        return None
    for p in plist:
        mask = getattr(p, "mask", None)
        if isinstance(mask, torch.Tensor):
            return mask != 0
    return None


def weight_mask(module: nn.Module, name: str = "weight") -> torch.Tensor | None:
    """The bool mask of real entries of ``module.<name>`` from the registered providers, or None."""
    for provider in _MASK_PROVIDERS:
        mask = provider(module, name)
        if mask is not None:
            return mask
    return None


# ---------------------------------------------------------------------------------------------
# the counting rules


@dataclasses.dataclass
class CountCall:
    """One call of a counted module during the counting pass.

    Attributes
    ----------
    module : nn.Module
    name : str
        Qualified name in the model (``""`` for the model itself).
    inputs : tuple
        Positional arguments of the call (batch of one).
    output : Any
    inner : list of dict
        Entries of counted modules called inside this one (e.g. the convolutions of node ops).
    signal_in : numpy bool array or None
        For a graph fed by another graph: which of its inputs carry signal.
    evaluations : int
        Set by counters of recurrent modules (steps, vector-field evaluations).
    """

    module: nn.Module
    name: str
    inputs: tuple[Any, ...]
    output: Any = None
    inner: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    signal_in: np.ndarray | None = None
    flops_before: int = 0
    flops_inside: int = 0
    state: dict[str, Any] = dataclasses.field(default_factory=dict)


Counter = Callable[[CountCall], dict[str, Any]]

#: Counting rules by module type (looked up along the MRO). A rule returns an entry with at least
#: ``params``, ``macs``, ``params_dense`` and ``macs_dense``.
COUNTERS: dict[type, Counter] = {}


def register_counter(*types: type) -> Callable[[Counter], Counter]:
    """Decorator registering a counting rule for module ``types`` (and their subclasses)."""

    def deco(fn: Counter) -> Counter:
        for t in types:
            COUNTERS[t] = fn
        return fn

    return deco


def _counter_for(module: nn.Module) -> Counter | None:
    for cls in type(module).__mro__:
        if cls in COUNTERS:
            return COUNTERS[cls]
    return None


def _numel(t: Any) -> int:
    return int(t.numel()) if isinstance(t, torch.Tensor) else 0


def _weighted(
    module: nn.Module, weight: torch.Tensor, out_axis: int, uses: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Entry of a layer whose every weight entry is used ``uses`` times, plus per-output-channel
    MACs and parameters (for the chained-graph adjustment)."""
    mask = weight_mask(module)
    bias = getattr(module, "bias", None)
    n_out = weight.shape[out_axis]
    if mask is None:
        per_channel = np.full(n_out, weight.numel() // n_out, dtype=np.int64)
    else:
        dims = tuple(d for d in range(mask.ndim) if d != out_axis)
        per_channel = mask.sum(dim=dims).cpu().numpy().astype(np.int64)
    bias_n = _numel(bias)
    channel_params = per_channel + (1 if bias_n == n_out else 0)
    entry = {
        "params": int(per_channel.sum()) + bias_n,
        "macs": int(per_channel.sum()) * uses,
        "params_dense": int(weight.numel()) + bias_n,
        "macs_dense": int(weight.numel()) * uses,
    }
    return entry, per_channel * uses, channel_params


@register_counter(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def _count_conv(call: CountCall) -> dict[str, Any]:
    m = call.module
    out = call.output
    entry, cm, cp = _weighted(m, m.weight, 0, out.numel() // out.shape[-m.weight.ndim + 1])
    call.state.update(channel_macs=cm, channel_params=cp, channel_axis=-m.weight.ndim + 1)
    return entry


@register_counter(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def _count_conv_transpose(call: CountCall) -> dict[str, Any]:
    m = call.module
    x = call.inputs[0]
    # weight (c_in, c_out/g, *k): each entry is used once per input position
    entry, _, _ = _weighted(m, m.weight, 1, x.numel() // x.shape[-m.weight.ndim + 1])
    return entry


@register_counter(nn.Linear)
def _count_linear(call: CountCall) -> dict[str, Any]:
    m = call.module
    out = call.output
    entry, cm, cp = _weighted(m, m.weight, 0, out.numel() // out.shape[-1])
    call.state.update(channel_macs=cm, channel_params=cp, channel_axis=-1)
    return entry


@register_counter(
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.Embedding, nn.EmbeddingBag
)
def _count_no_macs(call: CountCall) -> dict[str, Any]:
    n = sum(p.numel() for p in call.module.parameters())
    return {"params": n, "macs": 0, "params_dense": n, "macs_dense": 0}


# ---------------------------------------------------------------------------------------------
# compiled graphs


def node_liveness(graph: Any, signal_in: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Which nodes of a graph have an input, an output, and a node op inference must compute.

    A node *has an input* when it is an input node carrying signal (``signal_in``, default all) or a
    real edge enters it; it *has an output* when a real edge leaves it. A non-output node is *live*
    when it has both; output nodes have no op.

    Parameters
    ----------
    graph : NeuralGraph
    signal_in : bool array, shape (len(graph.inputs),), optional
        For chained graphs: which input nodes receive signal.

    Returns
    -------
    dict of bool arrays, shape (num_nodes,)
        ``has_input``, ``has_output``, ``op`` (non-output nodes), ``live`` (``op & has_input &
        has_output``).

    Examples
    --------
    >>> from wiring import NeuralGraph
    >>> g = NeuralGraph([0, 1, 3], [1, 2, 2], [1.0, 1.0, 1.0], num_nodes=4, inputs=[0],
    ...                 outputs=[2])
    >>> node_liveness(g)["live"].tolist()  # node 3 has no input, node 2 is an output
    [True, True, False, False]
    """
    n = graph.num_nodes
    real = graph.real
    has_in = np.zeros(n, dtype=bool)
    has_in[graph.dst[real]] = True
    sig = np.ones(graph.inputs.size, dtype=bool) if signal_in is None else signal_in
    has_in[graph.inputs] = sig | has_in[graph.inputs]
    has_out = np.zeros(n, dtype=bool)
    has_out[graph.src[real]] = True
    op = np.ones(n, dtype=bool)
    op[graph.outputs] = False
    return {"has_input": has_in, "has_output": has_out, "op": op, "live": op & has_in & has_out}


def _op_macs(call: CountCall, prefix: str) -> int:
    return sum(e["macs_dense"] for e in call.inner if e["name"].startswith(prefix))


def _graph_entry(
    call: CountCall,
    graph: Any,
    op_groups: list[tuple[np.ndarray, nn.Module, str]],
    edge_positions: int,
    evaluations: int,
) -> dict[str, Any]:
    """Shared arithmetic of the graph counters.

    ``op_groups``: (nodes handled by one op module, the module, its name prefix); the op's traced
    MACs (all calls) and parameters are shared equally by its nodes, as in a depthwise convolution.
    """
    m = call.module
    alive = node_liveness(graph, call.signal_in)
    params = macs = params_dense = macs_dense = 0
    for nodes, op, prefix in op_groups:
        if nodes.size == 0:
            continue
        live = int(alive["live"][nodes].sum())
        op_params = sum(p.numel() for p in op.parameters())
        op_macs = _op_macs(call, prefix)
        params += op_params * live // nodes.size
        macs += op_macs * live // nodes.size
        params_dense += op_params
        macs_dense += op_macs
    edges = int(graph.num_edges)
    params += edges
    macs += edges * edge_positions * evaluations
    params_dense += graph.num_candidates
    macs_dense += graph.num_candidates * edge_positions * evaluations
    n_op = int(alive["op"].sum())
    n_live = int(alive["live"].sum())
    info = {
        "dynamics": getattr(m, "dynamics", type(m).__name__),
        "nodes": graph.num_nodes,
        "candidates": graph.num_candidates,
        "edges": edges,
        "op_nodes": n_op,
        "live_nodes": n_live,
        "dead_nodes": n_op - n_live,
        "inputs_without_output": int((~alive["has_output"][graph.inputs]).sum()),
        "outputs_without_input": int((~alive["has_input"][graph.outputs]).sum()),
        "positions": edge_positions,
        "evaluations": evaluations,
    }
    call.state.update(
        output_has_input=alive["has_input"][graph.outputs],
        input_used=alive["has_output"][graph.inputs],
    )
    return {
        "params": params,
        "macs": macs,
        "params_dense": params_dense,
        "macs_dense": macs_dense,
        "graph": info,
    }


def _positions(t: torch.Tensor) -> int:
    return int(np.prod(t.shape[2:], dtype=np.int64)) if t.ndim > 2 else 1


def _count_static(call: CountCall) -> dict[str, Any]:
    m = call.module
    graph = m.graph()
    levels = np.unique(graph.blocks)
    is_out = np.zeros(graph.num_nodes, dtype=bool)
    is_out[graph.outputs] = True
    groups = []
    for b, level in enumerate(levels):
        nodes = np.flatnonzero((graph.blocks == level) & ~is_out)
        groups.append((nodes, m.ops[b], f"{call.name}.ops.{b}." if call.name else f"ops.{b}."))
    return _graph_entry(call, graph, groups, _positions(call.output), 1)


def _count_dynamic(call: CountCall) -> dict[str, Any]:
    m = call.module
    graph = m.graph()
    is_out = np.zeros(graph.num_nodes, dtype=bool)
    is_out[graph.outputs] = True
    nodes = np.flatnonzero(~is_out)
    prefix = f"{call.name}.op." if call.name else "op."
    if m.dynamics == "continuous":
        evaluations = int(m.nfe) - int(call.state["nfe_before"])
    else:
        evaluations = int(m.steps)
    return _graph_entry(call, graph, [(nodes, m.op, prefix)], _positions(call.output), evaluations)


def _count_unknown_graph(call: CountCall) -> dict[str, Any]:
    raise ValueError(
        f"model: no counting rule for the {getattr(call.module, 'dynamics', '?')!r} dynamics of "
        f"{call.name or 'the model'} ({type(call.module).__name__}); register one with "
        f"wiring.nn.count.register_counter"
    )


def _register_graph_counters() -> None:
    from wiring.nn.dynamics import Continuous, Discrete, GraphModule, Static

    COUNTERS[GraphModule] = _count_unknown_graph
    COUNTERS[Static] = _count_static
    COUNTERS[Discrete] = _count_dynamic
    COUNTERS[Continuous] = _count_dynamic


_register_graph_counters()


# ---------------------------------------------------------------------------------------------
# the pass


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if not isinstance(input_shape, Sequence) or isinstance(input_shape, str) or not input_shape:
        raise TypeError(
            f"input_shape: expected a non-empty sequence of ints such as (3, 224, 224), found "
            f"{input_shape!r}"
        )
    for d in input_shape:
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
            raise ValueError(
                f"input_shape: expected positive ints such as (3, 224, 224), found {input_shape!r}"
            )
    return tuple(int(d) for d in input_shape)


class _Tracer:
    """Forward hooks on every counted module; nested calls are collected by their parent."""

    def __init__(self, model: nn.Module, flops: Callable[[], int]) -> None:
        self.flops = flops
        self.stack: list[CountCall] = []
        self.top: list[tuple[CountCall, dict[str, Any]]] = []
        self.produced: dict[int, tuple[CountCall, dict[str, Any], Any]] = {}
        self.consumers: dict[int, int] = {}
        self.links: list[tuple[CountCall, CountCall, dict[str, Any]]] = []
        self.handles: list[Any] = []
        for name, module in model.named_modules():
            if _counter_for(module) is not None:
                self.handles.append(module.register_forward_pre_hook(self._pre(name)))
                self.handles.append(module.register_forward_hook(self._post))

    def _pre(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            call = CountCall(module, name, args, flops_before=self.flops())
            x = args[0] if args else None
            if not self.stack and isinstance(x, torch.Tensor):
                self.consumers[id(x)] = self.consumers.get(id(x), 0) + 1
                producer = self.produced.get(id(x))
                if producer is not None:
                    call.state["producer"] = producer
                    prev_call = producer[0]
                    if "output_has_input" in prev_call.state:
                        call.signal_in = prev_call.state["output_has_input"]
            if hasattr(module, "nfe"):
                call.state["nfe_before"] = int(module.nfe)
            self.stack.append(call)

        return hook

    def _post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        call = self.stack.pop()
        call.output = output
        call.flops_inside = self.flops() - call.flops_before
        counter = _counter_for(module)
        assert counter is not None  # hooks are only on modules with a rule
        entry = {
            "name": call.name,
            "type": type(module).__name__,
            **counter(call),
        }
        if isinstance(output, torch.Tensor):
            entry["output_shape"] = tuple(output.shape)
        if self.stack:
            self.stack[-1].inner.append(entry)
            return
        self.top.append((call, entry))
        if isinstance(output, torch.Tensor):
            self.produced[id(output)] = (call, entry, output)  # keep the tensor: ids stay unique
        if "producer" in call.state and "input_used" in call.state:
            self.links.append((call.state["producer"][0], call, call.state["producer"][1]))

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _adjust_producers(tracer: _Tracer) -> None:
    """A layer whose output feeds only a graph: drop the channels of input nodes without an edge."""
    for prev, graph_call, prev_entry in tracer.links:
        if "channel_macs" not in prev.state or tracer.consumers.get(id(prev.output), 0) != 1:
            continue
        used = graph_call.state["input_used"]
        cm, cp = prev.state["channel_macs"], prev.state["channel_params"]
        if cm.size != used.size:
            continue
        prev_entry["macs"] = int(cm[used].sum())
        prev_entry["params"] = int(cp[used].sum())
        prev_entry["unused_output_channels"] = int((~used).sum())


def _run(model: nn.Module, x: torch.Tensor) -> tuple[_Tracer, int]:
    from torch.utils.flop_counter import FlopCounterMode

    if any(getattr(m, "count_warmup", False) for m in model.modules()):
        with torch.no_grad():  # fill caches computed once per input size (exported modules)
            model(x)
    fc = FlopCounterMode(display=False)
    tracer = _Tracer(model, fc.get_total_flops)
    try:
        with torch.no_grad(), fc:
            model(x)
    finally:
        tracer.close()
    return tracer, int(fc.get_total_flops())


def count(model: nn.Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """Parameters and multiply-adds of one forward pass at batch 1, as inference computes it.

    Parameters
    ----------
    model : torch.nn.Module
        A plain PyTorch model, a compiled graph (:func:`wiring.compile`), a model containing compiled
        graphs (e.g. :func:`wiring.models.mobilenet_v1_dnw`), masked layers, or an export
        (:func:`wiring.export`). It is run once in eval mode without gradients; its training flags
        are restored afterwards.
    input_shape : sequence of int
        The shape of one example, e.g. ``(3, 224, 224)``; a leading batch dimension of 1 may be
        included (``(1, 3, 224, 224)``). When the first entry is 1 the shape is tried as a batch
        first, then as one example.

    Returns
    -------
    dict
        ``params``, ``macs``, ``params_dense``, ``macs_dense`` (ints); ``input_shape`` (the batch
        shape run); ``layers``: one entry per call of a counted module, in call order, each with
        ``name``, ``type``, ``params``, ``macs``, ``params_dense``, ``macs_dense``,
        ``output_shape`` and, for graphs, ``graph`` (``nodes``, ``candidates``, ``edges``,
        ``op_nodes``, ``live_nodes``, ``dead_nodes``, ``inputs_without_output``,
        ``outputs_without_input``, ``positions``, ``evaluations``); ``graphs``: the graph entries
        only. Parameters and multiply-adds outside counted layers form an ``"(other)"`` entry.

    Raises
    ------
    TypeError
        ``model`` is not a torch module, or ``input_shape`` is not a sequence of ints.
    ValueError
        The model cannot be run on an input of that shape (the message carries the model's error),
        or it contains a compiled graph whose dynamics has no counting rule.

    Notes
    -----
    Formulas (batch 1): a convolution with output :math:`Y` and weight :math:`W` costs
    :math:`|Y| \\operatorname{nnz}(W) / c_{out}` multiply-adds; a compiled static graph with real
    edges :math:`E`, node states of :math:`P` positions and live nodes :math:`V_\\ell` costs

    .. math::

        |E|\\,P + \\sum_{v \\in V_\\ell} \\text{MACs}(f_{\\theta_v}),

    e.g. :math:`9P` per live node for a 3×3 depthwise convolution (DNW sec. 2.4).

    References
    ----------
    Wortsman, Farhadi, Rastegari, *Discovering Neural Wirings*, NeurIPS 2019, sec. 2.4 and the
    authors' ``model_profiling``; Howard et al., *MobileNets*, 2017, Table 1 (MACs of MobileNetV1).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
    shape = _check_shape(input_shape)
    attempts = [shape, (1, *shape)] if shape[0] == 1 else [(1, *shape)]
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    dtype = param.dtype if param is not None else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    flags = {m: m.training for m in model.modules()}
    model.eval()
    errors: list[str] = []
    result: tuple[_Tracer, int] | None = None
    used_shape = attempts[0]
    try:
        for attempt in attempts:
            gen = torch.Generator(device="cpu").manual_seed(0)
            x = torch.randn(attempt, generator=gen, dtype=dtype).to(device)
            try:
                result = _run(model, x)
            except ValueError as e:
                if "no counting rule" in str(e):
                    raise
                errors.append(f"{attempt}: {type(e).__name__}: {e}")
                continue
            except (RuntimeError, TypeError, IndexError) as e:
                errors.append(f"{attempt}: {type(e).__name__}: {e}")
                continue
            used_shape = attempt
            break
    finally:
        for m, flag in flags.items():
            m.training = flag
    if result is None:
        raise ValueError(
            f"model: cannot trace {type(model).__name__} on a batch of one of input_shape="
            f"{shape}; the forward pass failed with " + "; ".join(errors)
        )
    tracer, total_flops = result
    _adjust_producers(tracer)
    layers = [entry for _, entry in tracer.top]
    # Parameters: every parameter of the model, those of counted modules as their rules count them.
    seen: set[int] = set()
    counted_modules: list[tuple[nn.Module, dict[str, Any]]] = []
    for call, entry in tracer.top:
        if id(call.module) not in seen:
            seen.add(id(call.module))
            counted_modules.append((call.module, entry))
    inside: set[int] = set()
    for module, _ in counted_modules:
        inside.update(id(p) for p in module.parameters())
    other_params = sum(p.numel() for p in model.parameters() if id(p) not in inside)
    other_macs = (total_flops - sum(call.flops_inside for call, _ in tracer.top)) // 2
    if other_params or other_macs > 0:
        layers.append(
            {
                "name": "(other)",
                "type": "parameters and operations outside counted layers",
                "params": int(other_params),
                "macs": int(max(other_macs, 0)),
                "params_dense": int(other_params),
                "macs_dense": int(max(other_macs, 0)),
            }
        )
    totals = {key: sum(e[key] for _, e in counted_modules) for key in ("params", "params_dense")}
    extra = layers[-1] if layers and layers[-1]["name"] == "(other)" else None
    return {
        "params": int(totals["params"] + (extra["params"] if extra else 0)),
        "macs": int(sum(e["macs"] for e in layers)),
        "params_dense": int(totals["params_dense"] + (extra["params_dense"] if extra else 0)),
        "macs_dense": int(sum(e["macs_dense"] for e in layers)),
        "input_shape": used_shape,
        "layers": layers,
        "graphs": [e for e in layers if "graph" in e],
    }
