"""Baselines of the adaptive-sparsity paper (its Table 2) at equal parameter counts.

* dense: the model as it is;
* random fixed sparse: ``wiring.sparsify(model, density)`` (a random mask, never changed);
* random channel-wise sparse: :func:`channelwise_sparse` (whole kernel slices between an input
  and an output channel are kept or dropped);
* wide dense: a dense model widened until it has a given number of parameters
  (:func:`wide_dense_width`, counting with :func:`count_real_parameters`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from wiring.evolve.base import check_int
from wiring.nn.sites import sites, sparsify

__all__ = ["channelwise_sparse", "count_real_parameters", "wide_dense_width"]


def count_real_parameters(model: nn.Module) -> int:
    """Trainable numbers a model really uses: every parameter, a site's weight counted by its mask.

    Examples
    --------
    >>> import wiring
    >>> model = wiring.sparsify(nn.Sequential(nn.Linear(10, 10)), 0.3)
    >>> count_real_parameters(model)  # 30 real weights + 10 biases
    40
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
    found = sites(model)
    site_weights = {id(s.weight) for s in found}
    plain = sum(p.numel() for p in model.parameters() if id(p) not in site_weights)
    return plain + sum(s.num_real for s in found)


def channelwise_sparse(
    model: nn.Module,
    density: float,
    *,
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    dense_first: bool = False,
    seed: int = 0,
) -> nn.Module:
    """Random channel-wise sparse baseline: whole (output channel, input channel) kernel slices.

    Like ``wiring.sparsify(model, density, rule="fixed", ...)`` (same arguments), but each site's
    mask keeps :math:`\\operatorname{round}(\\text{density} \\cdot C_{out} C_{in})` randomly chosen
    pairs :math:`(o, i)` with their whole kernel :math:`w[o, i, \\dots]`. For linear and LSTM
    weights a pair is one weight, so this equals the random fixed baseline.

    Returns
    -------
    nn.Module
        ``model``, changed in place.

    Examples
    --------
    >>> import wiring
    >>> model = channelwise_sparse(nn.Sequential(nn.Conv1d(4, 6, 5)), 0.5)
    >>> mask = wiring.sites(model)[0].mask  # (6, 4, 5)
    >>> bool((mask.all(dim=2) | ~mask.any(dim=2)).all()), int(mask.all(dim=2).sum())
    (True, 12)
    """
    before = {id(s.selection) for s in sites(model)}
    sparsify(
        model,
        density,
        rule="fixed",
        include=include,
        exclude=exclude,
        dense_first=dense_first,
        seed=seed,
    )
    generator = torch.Generator().manual_seed(seed)
    for site in sites(model):
        if id(site.selection) in before:
            continue
        shape = site.weight.shape
        pairs = shape[0] * shape[1]
        keep = max(1, round(density * pairs))
        chosen = torch.zeros(pairs, dtype=torch.bool)
        chosen[torch.randperm(pairs, generator=generator)[:keep]] = True
        mask = chosen.view(shape[0], shape[1], *([1] * (len(shape) - 2))).expand(shape)
        site.set_mask(mask.to(site.weight.device).contiguous())
    return model


def wide_dense_width(
    build: Callable[[int], nn.Module], parameters: int, *, low: int = 1, high: int | None = None
) -> int:
    """The width whose dense model has the parameter count closest to ``parameters``.

    ``build(width)`` must return a model whose parameter count grows with ``width``; the search
    doubles an upper bound, then bisects (about :math:`2 \\log_2 w` builds). Ties go to the smaller
    width.

    Parameters
    ----------
    build : callable
        ``width -> nn.Module``.
    parameters : int
        Target count (e.g. :func:`count_real_parameters` of a sparse model).
    low, high : int, optional
        Search bounds (``high`` default: found by doubling).

    Examples
    --------
    >>> def mlp(width):
    ...     return nn.Sequential(nn.Linear(10, width), nn.ReLU(), nn.Linear(width, 2))
    >>> wide_dense_width(mlp, 1000)  # 13 w + 2 = 1000 -> w = 76.8
    77
    """
    if not callable(build):
        raise TypeError(f"build: expected a callable width -> nn.Module, found {build!r}")
    parameters = check_int("parameters", parameters, low=1)
    low = check_int("low", low, low=1)

    def count(width: int) -> int:
        model = build(width)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"build: returned {type(model).__name__} for width {width}, not a Module"
            )
        return count_real_parameters(model)

    if high is None:
        high = low
        while count(high) < parameters:
            high *= 2
    else:
        high = check_int("high", high, low=low)
    lo, hi = low, high  # invariant: count(hi) >= parameters unless hi is the bound given
    while lo < hi:
        mid = (lo + hi) // 2
        if count(mid) < parameters:
            lo = mid + 1
        else:
            hi = mid
    best = lo
    if best > low and abs(count(best - 1) - parameters) <= abs(count(best) - parameters):
        best -= 1
    return best
