"""The tiny classifier as the DNW authors' code computes it: ``tiny_classifier(formulation="original")``.

This module registers the ``"original"`` entry of :data:`wiring.models.tiny.FORMULATIONS`: the
candidate graph of the authors' code (:func:`original_graph`), their head
(:class:`OriginalPoolHead`) and their graph computations (the ``"-original"`` dynamics of
:mod:`wiring.nn.original`); :func:`load_original_state_dict` loads a state dict of their models, so
that their released checkpoints can be evaluated and fine-tuned here. The differences from the
paper's formulation are listed point by point in docs/architecture.md.

References
----------
Wortsman, Farhadi, Rastegari, "Discovering Neural Wirings", NeurIPS 2019; the authors' code
(allenai/dnw): ``models/graphs/neuralgraph.py`` (``DiscreteTimeNeuralGraph``,
``ContinuousTimeNeuralGraph``, ``StaticNeuralGraph``) and ``models/graphs/util.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from wiring.errors import ConfigError
from wiring.graph import NeuralGraph
from wiring.models.parts import _SPATIAL, GraphClassifier, _check_choice, _check_int, stem
from wiring.models.tiny import Formulation, register_formulation
from wiring.options import TINY_DYNAMICS, TinyClassifierSizes, check

__all__ = ["OriginalPoolHead", "load_original_state_dict", "original_blocks", "original_graph"]

#: The graph module of each dynamics in the original formulation (registry names of wiring.nn).
ORIGINAL_DYNAMICS = {
    "static": "static-original",
    "discrete": "discrete-original",
    "continuous": "continuous-original",
}


def original_blocks(sizes: TinyClassifierSizes) -> list[int]:
    """Static block sizes of the authors' code: the inputs, then ``block_size`` chunks of the rest.

    The outputs (the last ``num_outputs`` nodes) must fit in the last chunk; a
    :class:`~wiring.errors.ConfigError` naming ``num_outputs`` says when they do not.

    >>> original_blocks(TinyClassifierSizes())
    [32, 192, 192, 192, 192]
    """
    rest = sizes.num_nodes - sizes.num_inputs
    out = [sizes.num_inputs] + [sizes.block_size] * (rest // sizes.block_size)
    if rest % sizes.block_size:
        out.append(rest % sizes.block_size)
    if sizes.num_outputs > out[-1]:
        raise ConfigError(
            f"num_outputs: the original static formulation keeps the outputs inside the last block "
            f"({out[-1]} nodes with num_nodes={sizes.num_nodes}, num_inputs={sizes.num_inputs}, "
            f"block_size={sizes.block_size}); expected at most {out[-1]}, found {sizes.num_outputs}"
        )
    return out


def original_graph(dynamics: str, sizes: TinyClassifierSizes) -> NeuralGraph:
    """The candidate graph of the authors' tiny classifier; weights uniform in (-1, 1).

    Dynamic (``"discrete"``, ``"continuous"``): all :math:`n^2` entries of their ``n × n`` matrix,
    self-loops included, ordered by destination then source (candidate ``v * n + u`` is
    :math:`u \\to v`, the entry ``graph.weight[v, u]`` of their code). Static: blocks of
    :func:`original_blocks`; the candidates are the entries their forward pass can use —
    :math:`u \\to v` with block(u) < block(v), and :math:`u \\to v` with both ends in the last block
    and :math:`v` an output (self-loops included).

    Examples
    --------
    >>> g = original_graph("discrete", TinyClassifierSizes(num_nodes=5, num_inputs=1, num_outputs=2))
    >>> g.num_candidates, int((g.src == g.dst).sum())
    (25, 5)
    >>> s = TinyClassifierSizes(num_nodes=8, num_inputs=2, num_outputs=2, block_size=3)
    >>> original_blocks(s), original_graph("static", s).num_candidates
    ([2, 3, 3], 27)
    """
    check("dynamics", dynamics, str, TINY_DYNAMICS)
    n = sizes.num_nodes
    inputs = np.arange(sizes.num_inputs)
    outputs = np.arange(n - sizes.num_outputs, n)
    dst, src = np.divmod(np.arange(n * n, dtype=np.int64), n)
    blocks = None
    if dynamics == "static":
        block_sizes = original_blocks(sizes)
        blocks = np.repeat(np.arange(len(block_sizes)), block_sizes)
        last = len(block_sizes) - 1
        is_out = np.zeros(n, dtype=bool)
        is_out[outputs] = True
        keep = (blocks[src] < blocks[dst]) | (
            (blocks[src] == last) & (blocks[dst] == last) & is_out[dst]
        )
        src, dst = src[keep], dst[keep]
    rng = np.random.default_rng(sizes.graph_seed)
    weight = rng.uniform(-1.0, 1.0, size=src.size)
    weight[weight == -1.0] = np.nextafter(-1.0, 0.0)  # the open interval, as the generators
    return NeuralGraph(src, dst, weight, num_nodes=n, blocks=blocks, inputs=inputs, outputs=outputs)


class OriginalPoolHead(nn.Module):
    """The authors' head: a 3-wide slice next to the centre, average-pooled by a 2-window, then ``fc``.

    Their code slices ``[h - 1, h + 2)`` with :math:`h = \\lfloor s/2 \\rfloor - 1` in each spatial
    dimension of size :math:`s` and applies ``AvgPool2d(2)``, which keeps the first two of the three:
    it averages positions :math:`s/2 - 2` and :math:`s/2 - 1` (rows and columns 2–3 of CIFAR-10's
    8 × 8 maps, one off the centre 3–4 that :class:`~wiring.models.parts.CenterPoolHead` pools):

    .. math::

        \\hat y = W \\,\\tfrac{1}{2^d}\\sum_{p \\in \\{s/2-2,\\, s/2-1\\}^d} Z_{\\mathcal V_E}[p] + b.

    (Their ``h`` is computed from ``image_size // 4``, which is the map size for a stride-4 stem;
    here it is the map's actual size.)

    Parameters
    ----------
    num_outputs, num_classes : int
        Output nodes (channels in) and logits.
    spatial_dims : {2, 1, 0}
        Input ``(B, num_outputs, H, W)``, ``(B, num_outputs, L)`` or ``(B, num_outputs)``; each
        spatial size must be at least 4.
    """

    def __init__(self, num_outputs: int, num_classes: int, *, spatial_dims: int = 2) -> None:
        super().__init__()
        _check_choice("spatial_dims", spatial_dims, _SPATIAL)
        self.spatial_dims = spatial_dims
        self.fc = nn.Linear(
            _check_int("num_outputs", num_outputs, 1), _check_int("num_classes", num_classes, 1)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, num_outputs, *spatial)`` → logits ``(B, num_classes)``."""
        if self.spatial_dims:
            spatial = tuple(z.shape[2:])
            if len(spatial) != self.spatial_dims or min(spatial) < 4:
                raise ValueError(
                    f"z: expected {self.spatial_dims} spatial dimensions of size >= 4 (the "
                    f"authors' head slices [s/2 - 2, s/2 + 1)), found shape {tuple(z.shape)}"
                )
            for d in range(2, 2 + self.spatial_dims):
                z = z.narrow(d, z.shape[d] // 2 - 2, 2)
            z = z.mean(dim=tuple(range(2, 2 + self.spatial_dims)))
        return self.fc(z)

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}"


def _original_build(
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
    from wiring.nn import compile as compile_graph

    module = compile_graph(
        graph,
        dynamics=ORIGINAL_DYNAMICS[dynamics],
        spatial_dims=spatial_dims,
        selection=selection,
        k=k,
        **options,
    )
    return GraphClassifier(
        stem(in_channels, len(graph.inputs), spatial_dims=spatial_dims, stride=sizes.stem_stride),
        module,
        OriginalPoolHead(len(graph.outputs), num_classes, spatial_dims=spatial_dims),
    )


def _original_num_candidates(dynamics: str, sizes: TinyClassifierSizes) -> int:
    """Candidates of :func:`original_graph` (formula in ``TinyClassifierSizes.num_candidates``).

    >>> s = TinyClassifierSizes(num_nodes=8, num_inputs=2, num_outputs=2, block_size=3)
    >>> _original_num_candidates("static", s), _original_num_candidates("continuous", s)
    (27, 64)
    """
    n = sizes.num_nodes
    if dynamics != "static":
        return n * n
    blocks = original_blocks(sizes)
    return (n * n - sum(b * b for b in blocks)) // 2 + blocks[-1] * sizes.num_outputs


register_formulation(
    Formulation("original", original_graph, _original_build, _original_num_candidates)
)


# ------------------------------------------------------------------------------------------------
# loading the authors' state dicts


def _expected(model: GraphClassifier) -> dict[str, tuple[tuple[int, ...], Any]]:
    """Their key → (shape, where it goes) for ``model``, in the order of their state dict."""
    from wiring.nn.original import OriginalContinuous, OriginalDiscrete, OriginalStatic

    gm = model.graph_module
    n, d = gm.num_nodes, gm.spatial_dims
    out: dict[str, tuple[tuple[int, ...], Any]] = {}
    for name, t in model.stem.state_dict().items():
        out[f"downsample.{name}"] = (tuple(t.shape), ("stem", name))
    one = (1,) * d
    if isinstance(gm, OriginalStatic):
        prefix = ""
        kernel = tuple(gm.ops[0].conv.weight.shape[2:]) if d else ()
    else:
        assert isinstance(gm, OriginalDiscrete | OriginalContinuous)  # checked by the caller
        prefix = "odesolve.odefunc." if isinstance(gm, OriginalContinuous) else ""
        kernel = tuple(gm.op.conv.weight.shape[2:]) if d else ()
    if d:
        out[f"{prefix}conv.weight"] = ((n, 1, *kernel), "conv")
    out[f"{prefix}graph.weight"] = ((n, n, *one), "graph")
    if gm.selection.name in ("fixed", "dnw-no-update"):
        out[f"{prefix}graph.mask"] = ((n, n, *one), "mask")
    if isinstance(gm, OriginalStatic):
        for b, op in enumerate(gm.ops):
            for p in ("weight", "bias"):
                if hasattr(op.norm, p) and isinstance(getattr(op.norm, p), torch.Tensor):
                    out[f"norm.{b}.{p}"] = ((op.norm.weight.numel(),), ("norm", b, p))
    else:
        for p in ("weight", "bias"):
            if isinstance(getattr(gm.op.norm, p, None), torch.Tensor):
                out[f"{prefix}norm.{p}"] = ((n,), ("norm", None, p))
    out["fc.weight"] = (tuple(model.head.fc.weight.shape), ("fc", "weight"))
    out["fc.bias"] = (tuple(model.head.fc.bias.shape), ("fc", "bias"))
    out["zeros"] = ((1, n - len(gm.inputs)), "zeros")  # spatial size depends on the image
    return out


def load_original_state_dict(
    model: GraphClassifier, state_dict: Mapping[str, torch.Tensor]
) -> GraphClassifier:
    """Load a state dict of the authors' tiny classifier into a ``formulation="original"`` model.

    The keys and shapes are those of their ``DiscreteTimeNeuralGraph``,
    ``ContinuousTimeNeuralGraph`` (prefix ``odesolve.odefunc.``) and ``StaticNeuralGraph``:
    ``downsample.*`` (the strided stem, the same layers as :func:`~wiring.models.parts.stem`),
    ``conv.weight`` (n, 1, 3, 3) (one depthwise kernel per node), ``graph.weight`` (n, n, 1, 1)
    (entry ``[v, u]`` is the weight of :math:`u \\to v`), ``graph.mask`` (their random graph and
    no-update ablation), ``norm.weight``/``norm.bias`` (n) (static: ``norm.<block>.*``, one
    instance norm per block), ``fc.*`` and the ``zeros`` buffer (shape checked, not used).
    A checkpoint of theirs holds it under ``"model"`` with ``nn.DataParallel``'s ``module.``
    prefix, which is stripped. ``model`` must have the same dynamics, sizes and selection; 1-D
    models take the 1-D analogues of the shapes.

    Candidate weights are read at the model's candidates: all entries in the dynamic settings;
    the usable ones in the static setting (the rest never carry a message there). A random
    graph's ``graph.mask`` must select as many candidates as the model's ``k``; its weights off
    the mask are set to 0 (the invariant of a stored-mask site; their forward pass never reads
    them).

    Their static code ranks all :math:`n^2` entries, so with their k only the usable entries among
    their top k are real (about 41 % of them); to evaluate a static checkpoint as they ran it,
    build the model with ``k`` equal to that count::

        w = state_dict["graph.weight"].flatten().abs()
        top = torch.zeros_like(w, dtype=torch.bool)
        top[w.topk(their_k).indices] = True
        k = int(top.view(n, n)[dst, src].sum())   # dst, src = original_graph(...) candidates

    Parameters
    ----------
    model : GraphClassifier
        Made by ``tiny_classifier(formulation="original", ...)``.
    state_dict : mapping of str to Tensor
        Their model's ``state_dict()`` (or a checkpoint's ``"model"`` entry).

    Returns
    -------
    GraphClassifier
        ``model``, with the loaded values.

    Raises
    ------
    TypeError
        ``model`` is not an original-formulation model, or a value is not a tensor.
    ValueError
        A key is missing, unexpected or of another shape (the message names the first such key), or
        a random graph's mask selects another number of edges than the model's ``k``.
    """
    from wiring.nn.original import OriginalContinuous, OriginalDiscrete, OriginalStatic

    if not isinstance(model, GraphClassifier) or not isinstance(
        model.graph_module, OriginalStatic | OriginalDiscrete | OriginalContinuous
    ):
        raise TypeError(
            "model: expected a GraphClassifier made by tiny_classifier(formulation='original'), "
            f"found {type(model).__name__}"
            + (
                f" with graph module {type(model.graph_module).__name__}"
                if isinstance(model, GraphClassifier)
                else ""
            )
        )
    if not isinstance(model.head, OriginalPoolHead):
        raise TypeError(
            f"model: expected the authors' head (OriginalPoolHead), found {type(model.head).__name__}"
        )
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"state_dict: expected a mapping of names to tensors, found {type(state_dict).__name__}"
        )
    sd = dict(state_dict)
    if sd and all(key.startswith("module.") for key in sd):
        sd = {key[len("module.") :]: v for key, v in sd.items()}
    expected = _expected(model)
    for key, (shape, _) in expected.items():
        if key not in sd:
            raise ValueError(
                f"state_dict: expected key {key!r} (shape {shape}) of the authors' "
                f"{type(model.graph_module).__name__} model, found no such key"
            )
        value = sd[key]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}]: expected a tensor, found {type(value).__name__}")
        found = tuple(value.shape)
        ok = found[: len(shape)] == shape and len(found) == len(shape) + (
            model.graph_module.spatial_dims if key == "zeros" else 0
        )
        if not ok:
            raise ValueError(
                f"state_dict[{key!r}]: expected shape {shape}"
                + (" + spatial" if key == "zeros" else "")
                + f", found {found}"
            )
    unexpected = [key for key in sd if key not in expected]
    if unexpected:
        raise ValueError(
            f"state_dict: unexpected key {unexpected[0]!r} for a {model.graph_module.dynamics} "
            f"model with selection {model.graph_module.selection.name!r} (expected keys: "
            f"{', '.join(expected)})"
        )

    gm = model.graph_module
    n = gm.num_nodes
    src = torch.as_tensor(gm._src_np.copy())
    dst = torch.as_tensor(gm._dst_np.copy())
    new = {key: t.clone() for key, t in model.state_dict().items()}
    for key, (_, where) in expected.items():
        value = sd[key].detach().to("cpu")
        if where == "zeros":
            continue
        if isinstance(where, tuple) and where[0] == "stem":
            new[f"stem.{where[1]}"] = value
        elif isinstance(where, tuple) and where[0] == "fc":
            new[f"head.fc.{where[1]}"] = value
        elif where == "graph":
            new["graph_module.weight"] = value.reshape(n, n)[dst, src]
        elif where == "mask":
            real = value.reshape(n, n)[dst, src] != 0
            if gm.selection.name == "fixed":
                if int(real.sum()) != gm.k:
                    raise ValueError(
                        f"state_dict['{key}']: expected a mask selecting the model's k = {gm.k} "
                        f"candidates, found {int(real.sum())}; build the model with that k"
                    )
                new["graph_module.selection.real"] = real
        elif where == "conv":
            if isinstance(gm, OriginalStatic):
                start = 0
                for b, op in enumerate(gm.ops):
                    size = op.conv.weight.shape[0]
                    new[f"graph_module.ops.{b}.conv.weight"] = value[start : start + size]
                    start += size
            else:
                new["graph_module.op.conv.weight"] = value
        elif isinstance(where, tuple) and where[0] == "norm":
            _, b, p = where
            target = "graph_module.op.norm" if b is None else f"graph_module.ops.{b}.norm"
            new[f"{target}.{p}"] = value
    if gm.selection.stored:  # a stored-mask site keeps its inactive weights at exactly 0
        real = new["graph_module.selection.real"]
        new["graph_module.weight"] = new["graph_module.weight"].masked_fill(~real, 0)
    model.load_state_dict(new)
    return model
