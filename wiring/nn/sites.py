"""Sparse sites: one weight tensor, its real-edge mask and a selection rule, in any PyTorch model.

A *site* is the unit every evolution rule (:mod:`wiring.evolve`) works on:

* the candidate weights of a compiled graph (``model.weight`` of a
  :class:`~wiring.nn.dynamics.GraphModule`, with ``model.selection``);
* the weight of an ``nn.Linear``, ``nn.Conv1d`` or ``nn.Conv2d`` and the ``weight_ih_l*`` /
  ``weight_hh_l*`` matrices of an ``nn.LSTM`` after :func:`sparsify`.

:func:`sparsify` attaches the selection rule to the layer's weight with
``torch.nn.utils.parametrize``: the layer keeps its class, forward signature and behaviour under
``torch.no_grad()``, ``model.eval()`` and ``DistributedDataParallel``; the parameter becomes
``<layer>.parametrizations.<name>.original`` (the *same* ``nn.Parameter`` object, so an optimizer
built before still holds it) and the rule, with its mask buffer, ``<layer>.parametrizations.
<name>.0``. The mask is therefore part of ``state_dict()``, of ``torch.save(model.state_dict())``
and of every checkpoint; nothing keeps masks on the side, and no dictionary is keyed by parameter
names. :func:`sites` lists the sites of a model in module order; :func:`densify` removes the
wrappers again.

Gradients. The effective weight :math:`w \\odot m` is computed by an autograd function whose
backward pass records :math:`\\partial L / \\partial (w \\odot m)` at *every* position on the site
(``site.grad``) and hands the parameter the masked gradient :math:`m \\odot \\partial L /
\\partial (w \\odot m)` (the whole of it for DNW's straight-through rule). Autograd computes the
full weight gradient of a linear, convolutional or recurrent layer anyway (one dense product of
the layer input and the output gradient), so nothing is densified in the forward pass and the
record costs no extra arithmetic — only the memory of one weight-sized tensor per site, held until
the next backward pass replaces it.

Invariant of stored-mask sites (rule ``"fixed"``): weights where the mask is off are exactly 0.
:meth:`Site.set_mask` keeps it (it zeroes the weights and their gradients where the new mask is
off) and :func:`reset_optimizer_state` zeroes the optimizer's per-weight state (momentum, Adam
moments) there, so an optimizer step never moves an inactive weight.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from wiring.nn.count import register_weight_mask
from wiring.nn.dynamics import GraphModule
from wiring.nn.selection import Selection, make_selection

__all__ = [
    "DISTRIBUTIONS",
    "SPARSE_LAYERS",
    "Site",
    "densify",
    "erk_counts",
    "reset_optimizer_state",
    "sites",
    "sparsify",
    "uniform_counts",
]

#: Layer types whose weights :func:`sparsify` turns into sites (``nn.LSTM``: its ``weight_ih_l*``
#: and ``weight_hh_l*``).
SPARSE_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.LSTM)


class Site:
    """One weight tensor with its mask and selection rule (a view; the state lives in the model).

    Attributes
    ----------
    name : str
        ``"<module path>.<tensor name>"``, e.g. ``"fc1.weight"``, ``"lstm.weight_hh_l0"`` or, for a
        compiled graph at the root of the model, ``"weight"``.
    module : nn.Module
        The layer (or compiled graph) that owns the weight.
    selection : Selection
        The rule; its buffers hold the stored mask.
    """

    __slots__ = ("attr", "module", "name", "selection")

    def __init__(self, name: str, module: nn.Module, attr: str, selection: Selection) -> None:
        self.name = name
        self.module = module
        self.attr = attr
        self.selection = selection

    @property
    def weight(self) -> nn.Parameter:
        """The trainable weight (for a wrapped layer: ``parametrizations.<name>.original``)."""
        if isinstance(self.module, GraphModule):
            return self.module.weight
        return self.module.parametrizations[self.attr].original

    @property
    def mask(self) -> torch.Tensor:
        """Real positions, bool, shape of :attr:`weight` (without any transient dropout)."""
        with torch.no_grad():
            return self.selection.mask(self.weight.detach())

    @property
    def stored(self) -> bool:
        """True when the mask is state that :meth:`set_mask` may change (rule ``"fixed"``)."""
        return bool(self.selection.stored)

    @property
    def numel(self) -> int:
        """Number of positions (candidate weights)."""
        return self.weight.numel()

    @property
    def num_real(self) -> int:
        """Number of real (active) positions."""
        return int(self.mask.sum())

    @property
    def density(self) -> float:
        """Fraction of real positions, ``num_real / numel``."""
        return self.num_real / max(self.numel, 1)

    @property
    def grad(self) -> torch.Tensor | None:
        """:math:`\\partial L / \\partial (w \\odot m)` at every position, from the last backward.

        None before the first backward pass. The parameter's own ``.grad`` is this, masked (unless
        the rule is straight-through).
        """
        return self.selection.effective_grad

    @property
    def destination(self) -> torch.Tensor:
        """Index of the neuron (output unit, or graph node) each position feeds, weight-shaped."""
        w = self.weight
        if isinstance(self.module, GraphModule):
            return torch.as_tensor(self.module._dst_np, device=w.device)
        rows = torch.arange(w.shape[0], device=w.device)
        return rows.view(-1, *([1] * (w.ndim - 1))).expand(w.shape)

    def set_mask(self, mask: torch.Tensor) -> None:
        """Store a new mask and zero the weights (and their gradients) where it is off.

        Raises
        ------
        ValueError
            If the rule computes its mask from the weights (``"dnw"``), or ``mask`` is not a bool
            tensor of the weight's shape.
        """
        weight = self.weight
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise ValueError(f"mask: expected a bool tensor for site {self.name!r}, found {mask!r}")
        if mask.shape != weight.shape:
            raise ValueError(
                f"mask: expected shape {tuple(weight.shape)} for site {self.name!r}, "
                f"found {tuple(mask.shape)}"
            )
        self.selection.set_mask(mask.to(weight.device))
        off = ~mask.to(weight.device)
        with torch.no_grad():
            weight.masked_fill_(off, 0)
            if weight.grad is not None:
                weight.grad.masked_fill_(off, 0)

    def __repr__(self) -> str:
        rule = self.selection.name or type(self.selection).__name__
        return (
            f"Site({self.name!r}, shape={tuple(self.weight.shape)}, rule={rule!r}, "
            f"density={self.density:.4g})"
        )


def sites(model: nn.Module) -> list[Site]:
    """The sites of ``model`` in module order.

    Parameters
    ----------
    model : nn.Module
        Any module (also a ``DistributedDataParallel`` wrapper).

    Returns
    -------
    list of Site
        Compiled graphs' weights and the weights wrapped by :func:`sparsify`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = sparsify(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)), 0.5)
    >>> [(s.name, s.num_real, s.numel) for s in sites(model)]
    [('0.weight', 16, 32), ('2.weight', 4, 8)]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
    found = []
    for path, module in model.named_modules():
        if isinstance(module, GraphModule):
            found.append(Site(_join(path, "weight"), module, "weight", module.selection))
        elif parametrize.is_parametrized(module):
            for attr, chain in module.parametrizations.items():
                if len(chain) and isinstance(chain[0], Selection):
                    found.append(Site(_join(path, attr), module, attr, chain[0]))
    return found


def _join(path: str, attr: str) -> str:
    return f"{path}.{attr}" if path else attr


@register_weight_mask
def _site_mask(module: nn.Module, name: str) -> torch.Tensor | None:
    """The real-weight mask of a wrapped layer's weight, for :func:`wiring.count` and
    :func:`wiring.export` (``export`` bakes it like any parametrization: ``w * mask``)."""
    chain = getattr(getattr(module, "parametrizations", None), name, None)
    if chain is None or not len(chain) or not isinstance(chain[0], Selection):
        return None
    with torch.no_grad():
        return chain[0].mask(chain.original.detach())


# ------------------------------------------------------------------------------ allocations


def uniform_counts(shapes: Sequence[tuple[int, ...]], density: float) -> list[int]:
    """Real weights per site when every site has the same density: ``round(density * numel)``.

    Examples
    --------
    >>> uniform_counts([(4, 8), (2, 4)], 0.5)
    [16, 4]
    """
    return [round(density * math.prod(shape)) for shape in shapes]


def erk_counts(shapes: Sequence[tuple[int, ...]], density: float) -> list[int]:
    """Erdős–Rényi-kernel allocation (Evci et al. 2020, sec. 3), with the uniform total.

    Site :math:`l` with weight shape :math:`(n_1, \\dots, n_d)` and :math:`N_l = \\prod_i n_i`
    weights gets density

    .. math:: d_l = \\min\\left(1,\\; \\varepsilon \\, \\frac{\\sum_i n_i}{\\prod_i n_i}\\right),

    (for a linear layer :math:`(n_{in} + n_{out}) / (n_{in} n_{out})`, the Erdős–Rényi density;
    for a convolution the kernel dimensions count too), with :math:`\\varepsilon` chosen so that
    :math:`\\sum_l d_l N_l = T = \\sum_l \\operatorname{round}(d N_l)`, the total of
    :func:`uniform_counts`. Sites whose density would exceed 1 are made dense and
    :math:`\\varepsilon` is solved again over the others (the largest ratio first, as in the RigL
    code). Counts are :math:`d_l N_l` rounded down, the remainder going to the largest fractional
    parts (lower index first), so they sum to exactly :math:`T`.

    Parameters
    ----------
    shapes : sequence of tuple of int
        Weight shapes, one per site.
    density : float
        Overall density in (0, 1].

    Returns
    -------
    list of int
        Real weights per site.

    References
    ----------
    U. Evci, T. Gale, J. Menick, P. S. Castro and E. Elsen, "Rigging the Lottery: Making All
    Tickets Winners", ICML 2020.

    Examples
    --------
    >>> erk_counts([(10, 10), (10, 40)], 0.2)
    [29, 71]
    """
    sizes = [math.prod(shape) for shape in shapes]
    total = sum(round(density * n) for n in sizes)
    raw = [sum(shape) / n for shape, n in zip(shapes, sizes, strict=True)]
    dense: set[int] = set()
    eps = 0.0
    while True:
        rest = [i for i in range(len(sizes)) if i not in dense]
        if not rest:
            break
        budget = total - sum(sizes[i] for i in dense)
        eps = budget / sum(raw[i] * sizes[i] for i in rest)
        top = max(raw[i] for i in rest)
        if eps * top <= 1.0:
            break
        dense.update(i for i in rest if raw[i] == top)
    exact = [float(sizes[i]) if i in dense else eps * raw[i] * sizes[i] for i in range(len(sizes))]
    counts = [min(math.floor(x), n) for x, n in zip(exact, sizes, strict=True)]
    left = total - sum(counts)
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - math.floor(exact[i])), i))
    while left > 0:
        progressed = False
        for i in order:
            if left == 0:
                break
            if counts[i] < sizes[i]:
                counts[i] += 1
                left -= 1
                progressed = True
        if not progressed:  # pragma: no cover - total never exceeds the sum of sizes
            break
    return counts


#: How :func:`sparsify` spreads the real weights over the sites: name → ``(shapes, density) ->
#: counts``. A new allocation is a new entry.
DISTRIBUTIONS: dict[str, Callable[[Sequence[tuple[int, ...]], float], list[int]]] = {
    "uniform": uniform_counts,
    "erk": erk_counts,
}


# ------------------------------------------------------------------------------ sparsify


def _check_density(density: Any, name: str = "density") -> float:
    if isinstance(density, bool) or not isinstance(density, int | float | np.floating):
        raise ValueError(f"{name}: expected a number in (0, 1], found {density!r}")
    if not (math.isfinite(density) and 0.0 < density <= 1.0):
        raise ValueError(f"{name}: expected a number in (0, 1], found {density!r}")
    return float(density)


def _patterns(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        items = list(value)
        if all(isinstance(p, str) for p in items):
            return items
    raise ValueError(f"{name}: expected a list of module-name patterns (str), found {value!r}")


def _candidates(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(module path, module, tensor name) of every sparse-able weight, in module order.

    Layers inside a compiled graph are left out: the graph's wiring is its own site.
    """
    inside_graph: set[str] = set()
    found = []
    for path, module in model.named_modules():
        if any(path.startswith(g + ".") or g == "" for g in inside_graph):
            continue
        if isinstance(module, GraphModule):
            inside_graph.add(path)
            continue
        if isinstance(module, Selection) or not isinstance(module, SPARSE_LAYERS):
            continue
        if isinstance(module, nn.LSTM):
            names = [
                n
                for n in module._flat_weights_names
                if n.startswith(("weight_ih_l", "weight_hh_l"))
            ]
        else:
            names = ["weight"]
        found.extend((path, module, n) for n in names)
    return found


def _matches(path: str, attr: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(_join(path, attr), pattern)


def _own_class_on_deepcopy(module: nn.Module) -> None:
    """Make ``copy.deepcopy`` of a wrapped layer give the copy a class of its own.

    ``parametrize`` gives every wrapped module its own subclass holding the weight's property.
    Its default deep copy shares that class between original and copy, so :func:`densify` on the
    copy (which deletes the property from the class) would break the original. The copy gets an
    identical class of its own here. For ``nn.LSTM`` the weights cached in ``_flat_weights``
    (non-leaf effective weights, which cannot be deep-copied) are copied detached; the cache is
    rebuilt on the next forward pass anyway.
    """
    cls = type(module)
    if cls.__dict__.get("_wiring_own_class", False):
        return
    inner = cls.__deepcopy__

    def deepcopy_with_own_class(self: nn.Module, memo: dict[int, Any]) -> nn.Module:
        cached = self.__dict__.get("_flat_weights")
        if cached is not None:
            self._flat_weights = [
                w.detach() if isinstance(w, torch.Tensor) and w.grad_fn is not None else w
                for w in cached
            ]
        try:
            replica = inner(self, memo)
        finally:
            if cached is not None:
                self._flat_weights = cached
        own = {k: v for k, v in type(self).__dict__.items() if k not in ("__dict__", "__weakref__")}
        replica.__class__ = type(type(self).__name__, type(self).__bases__, own)
        return replica

    cls.__deepcopy__ = deepcopy_with_own_class
    cls._wiring_own_class = True


def sparsify(
    model: nn.Module,
    density: float,
    *,
    rule: str | Selection = "fixed",
    distribution: str = "uniform",
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    dense_first: bool = False,
    seed: int = 0,
) -> nn.Module:
    """Make sites, in place, of the weights of ``model``'s linear, convolutional and LSTM layers.

    Every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` weight and every ``nn.LSTM``
    ``weight_ih_l*``/``weight_hh_l*`` (layers inside a compiled graph excepted: the graph is its
    own site) gets a selection rule and a mask with :math:`k_l` real positions.

    Parameters
    ----------
    model : nn.Module
        Changed in place and returned.
    density : float
        Fraction of real weights, in (0, 1].
    rule : str or Selection
        A name in :data:`wiring.nn.selection.SELECTIONS` — ``"fixed"`` (a random mask of
        :math:`k_l` positions drawn from ``seed``; weights off the mask are set to 0),
        ``"dnw"`` (the :math:`k_l` largest :math:`|w|` in every forward pass, straight-through
        gradient), ``"dnw-no-update"`` — or a :class:`Selection` instance, copied for every site.
    distribution : {"uniform", "erk"}
        ``"uniform"``: :math:`k_l = \\operatorname{round}(\\text{density} \\cdot N_l)`;
        ``"erk"``: Erdős–Rényi-kernel with the same total (:func:`erk_counts`). See
        :data:`DISTRIBUTIONS`.
    include, exclude : list of str, optional
        Module-name patterns (``fnmatch``, e.g. ``"features.*"``; also matched against the site
        name ``"lstm.weight_hh_l0"``): only weights matching some ``include`` pattern, and none of
        ``exclude``. Every pattern must match some layer.
    dense_first : bool
        Leave the first layer (in module order, after include/exclude) dense and not a site, as
        in the DNW poster's "first layer dense".
    seed : int
        Seed of the random masks (one ``torch.Generator``, sites in module order).

    Returns
    -------
    nn.Module
        ``model``.

    Raises
    ------
    ValueError
        ``density`` outside (0, 1]; a site left with fewer than one real weight; an unknown rule or
        distribution; a pattern that matches no layer; nothing to sparsify; a weight that is
        already a site.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv1d(2, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6, 3))
    >>> model = sparsify(model, 0.25, distribution="erk", seed=1)
    >>> [s.num_real for s in sites(model)], sum(s.num_real for s in sites(model))
    ([10, 38], 48)
    >>> model(torch.randn(5, 2, 8)).shape
    torch.Size([5, 3])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
    density = _check_density(density)
    if distribution not in DISTRIBUTIONS:
        raise ValueError(
            f"distribution: expected one of {sorted(DISTRIBUTIONS)}, found {distribution!r}"
        )
    if not isinstance(dense_first, bool):
        raise ValueError(f"dense_first: expected a bool, found {dense_first!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, found {seed!r}")
    if not isinstance(rule, str | Selection):
        raise TypeError(
            f"rule: expected a selection name or a Selection instance, found {type(rule).__name__}"
        )
    include_p, exclude_p = _patterns(include, "include"), _patterns(exclude, "exclude")

    candidates = _candidates(model)
    for name, patterns in (("include", include_p), ("exclude", exclude_p)):
        for p in patterns or []:
            if not any(_matches(path, attr, p) for path, _, attr in candidates):
                layers = sorted({_join(path, attr) for path, _, attr in candidates})
                raise ValueError(
                    f"{name}: pattern {p!r} matches no sparse-able layer; the layers are {layers}"
                )
    chosen = [
        (path, module, attr)
        for path, module, attr in candidates
        if (include_p is None or any(_matches(path, attr, p) for p in include_p))
        and not any(_matches(path, attr, p) for p in exclude_p or [])
    ]
    if dense_first and chosen:
        first = chosen[0][1]
        chosen = [c for c in chosen if c[1] is not first]
    if not chosen:
        raise ValueError(
            "model: no nn.Linear/Conv1d/Conv2d/LSTM weight to sparsify"
            + (" after include/exclude/dense_first" if candidates else "")
        )
    for path, module, attr in chosen:
        if parametrize.is_parametrized(module, attr):
            raise ValueError(
                f"model: {_join(path, attr)!r} is already a site (or otherwise parametrized); "
                "call wiring.densify(model) first"
            )

    weights = [getattr(module, attr) for _, module, attr in chosen]
    counts = DISTRIBUTIONS[distribution]([tuple(w.shape) for w in weights], density)
    for (path, _, attr), w, k in zip(chosen, weights, counts, strict=True):
        if k < 1:
            raise ValueError(
                f"density: {density} leaves site {_join(path, attr)!r} ({w.numel()} weights) with "
                f"{k} real weights; every site needs at least one (raise the density, or exclude it)"
            )

    generator = torch.Generator().manual_seed(seed)
    for (_, module, attr), w, k in zip(chosen, weights, counts, strict=True):
        real = torch.zeros(w.numel(), dtype=torch.bool)
        real[torch.randperm(w.numel(), generator=generator)[:k]] = True
        real = real.view(w.shape).to(w.device)
        spec = copy.deepcopy(rule) if isinstance(rule, Selection) else rule
        selection = make_selection(spec, weight=w, k=k, real=real, argument="rule")
        if selection.stored:
            with torch.no_grad():
                w.masked_fill_(~selection.mask(w.detach()), 0)
        parametrize.register_parametrization(module, attr, selection)
        _own_class_on_deepcopy(module)
    return model


def densify(model: nn.Module) -> nn.Module:
    """Remove the wrappers of :func:`sparsify`: plain layers with zeros where the mask was off.

    The weight keeps its ``nn.Parameter`` object (an optimizer built before still holds it) and
    becomes :math:`w \\odot m` (the rule's mask, without any transient dropout). Compiled graphs
    are left as they are (their weight and rule are the graph's own).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = densify(sparsify(nn.Sequential(nn.Linear(10, 10)), 0.3))
    >>> type(model[0]).__name__, int((model[0].weight != 0).sum())
    ('Linear', 30)
    """
    for site in sites(model):
        if isinstance(site.module, GraphModule):
            continue
        site.selection.dropout = None
        parametrize.remove_parametrizations(site.module, site.attr, leave_parametrized=True)
    return model


def reset_optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """Zero the optimizer's per-weight state where a stored-mask site's mask is off.

    Momentum buffers, Adam's first and second moments (and ``max_exp_avg_sq``) — every state
    tensor of a site's weight shape — are set to 0 at inactive positions, so a later step cannot
    move (resurrect) a weight that was dropped. Call it whenever a mask changed; the rules of
    :mod:`wiring.evolve` do so in their trainer hooks. Sites whose mask follows the weights
    (``"dnw"``) are left alone: DNW's hallucinated weights keep training by design.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer training ``model``.
    model : nn.Module
        The model whose sites are read.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer: expected a torch.optim.Optimizer, found {type(optimizer).__name__}"
        )
    for site in sites(model):
        if not site.stored:
            continue
        weight = site.weight
        state = optimizer.state.get(weight)
        if not state:
            continue
        off = ~site.mask
        with torch.no_grad():
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.shape == weight.shape:
                    value.masked_fill_(off, 0)
