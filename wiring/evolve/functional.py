"""Pure functions of the evolution rules: (weights, gradients, mask, generator) -> new mask/weights.

Nothing here touches a model: every function takes tensors of one site (any shape; ``mask`` is a
bool tensor of the weight's shape) and returns new tensors. The rule objects of
:mod:`wiring.evolve` apply them to the sites of a model.

Conventions shared by all rules:

* "the ``n`` largest" follows the package's one top-k rule (:func:`wiring._topk.top_k_mask`):
  among equal scores the lower flat index is selected, so among equal :math:`|w|` the *higher*
  index is dropped first;
* growth candidates are the positions inactive *after* the drop (Evci et al. 2020, Algorithm 1:
  :math:`i \\notin \\theta \\setminus I_{drop}`), so a position may be dropped and grown in the
  same update; it then keeps its weight (it never left). Genuinely new connections get their
  initial value (0 for RigL/SET);
* weights where the new mask is off are 0.
"""

from __future__ import annotations

import math

import torch

from wiring.nn.selection import top_k_mask

__all__ = [
    "adaptive_update",
    "cubic_density",
    "drop_fraction",
    "keep_largest",
    "rigl_update",
    "set_update",
    "targeted_candidates",
]


def keep_largest(score: torch.Tensor, mask: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` positions of largest ``score`` among those where ``mask`` is True.

    Parameters
    ----------
    score : Tensor, any shape
        Scores (finite).
    mask : Tensor of bool, same shape
        Eligible positions.
    n : int
        How many to keep; clipped to ``[0, mask.sum()]``.

    Returns
    -------
    Tensor of bool, same shape
        Exactly ``min(max(n, 0), mask.sum())`` positions, a subset of ``mask``.

    Examples
    --------
    >>> keep_largest(torch.tensor([3.0, 1.0, 2.0, 5.0]), torch.tensor([True, True, True, False]), 2)
    tensor([ True, False,  True, False])
    """
    flat_mask = mask.reshape(-1)
    flat_score = score.detach().reshape(-1)
    count = int(flat_mask.sum())
    n = max(0, min(int(n), count))
    if count == flat_mask.numel():  # every position eligible
        return top_k_mask(flat_score, n).to(mask.device).view(mask.shape)
    eligible = torch.nonzero(flat_mask).squeeze(1)  # ascending: ties still go to lower indices
    out = torch.zeros_like(flat_mask)
    if n:
        chosen = top_k_mask(flat_score.index_select(0, eligible), n)
        out[eligible[chosen.to(eligible.device)]] = True
    return out.view(mask.shape)


def _drop_grow(
    weight: torch.Tensor, mask: torch.Tensor, n: int, grow_score: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    active = int(mask.sum())
    n = max(0, min(int(n), active))
    kept = keep_largest(weight.detach().abs(), mask, active - n)
    grown = keep_largest(grow_score, ~kept, n)
    new_mask = kept | grown
    new_connections = grown & ~mask
    new_weight = weight.detach().masked_fill(~new_mask | new_connections, 0)
    return new_mask, new_weight


def rigl_update(
    weight: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """RigL's drop/grow (Evci et al. 2020): drop the ``n`` smallest :math:`|w|` among active weights,
    grow the ``n`` largest :math:`|\\partial L / \\partial w|` among the others; new ones start at 0.

    .. math::
        I_{drop} = \\operatorname{ArgTopK}_{i \\in \\theta}(-|w_i|, n), \\qquad
        I_{grow} = \\operatorname{ArgTopK}_{i \\notin \\theta \\setminus I_{drop}}
        (|\\nabla_{w_i} L|, n)

    Parameters
    ----------
    weight, grad : Tensor, shape S
        Weights and the gradient of the loss with respect to the effective weights (every position).
    mask : Tensor of bool, shape S
        Active positions.
    n : int
        Connections to replace (clipped to the active count).

    Returns
    -------
    new_mask : Tensor of bool, shape S
        Same number of active positions as ``mask``.
    new_weight : Tensor, shape S
        0 where ``new_mask`` is off and at new connections; ``weight`` elsewhere.

    Examples
    --------
    >>> w = torch.tensor([0.5, -0.1, 0.0, 0.0, 0.3])
    >>> g = torch.tensor([0.0, 0.0, 0.9, -0.2, 0.0])
    >>> m = torch.tensor([True, True, False, False, True])
    >>> new_mask, new_w = rigl_update(w, g, m, 1)
    >>> new_mask.tolist(), new_w.tolist()
    ([True, False, True, False, True], [0.5, 0.0, 0.0, 0.0, 0.30000001192092896])
    """
    return _drop_grow(weight, mask, n, grad.detach().abs())


def set_update(
    weight: torch.Tensor, mask: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """SET's drop/grow (Mocanu et al. 2018): drop as :func:`rigl_update`, grow ``n`` at random.

    The growth scores are uniform draws from ``generator`` (on the CPU, so every device and rank
    draws the same); otherwise as :func:`rigl_update`.
    """
    score = torch.rand(weight.shape, generator=generator, dtype=torch.float64)
    return _drop_grow(weight, mask, n, score.to(mask.device))


def drop_fraction(step: int, initial: float, end: int, schedule: str) -> float:
    """The fraction of active weights replaced at ``step`` (RigL's annealing).

    .. math:: f(t) = \\frac{f_0}{2}\\left(1 + \\cos\\frac{\\pi t}{T_{end}}\\right)
        \\quad (\\text{cosine}), \\qquad f(t) = f_0 \\quad (\\text{constant}),

    and 0 from :math:`T_{end}` on.

    Examples
    --------
    >>> drop_fraction(0, 0.3, 100, "cosine"), drop_fraction(50, 0.3, 100, "cosine")
    (0.3, 0.15)
    """
    if step >= end:
        return 0.0
    if schedule == "constant":
        return initial
    return 0.5 * initial * (1.0 + math.cos(math.pi * step / end))


def cubic_density(step: int, initial: float, final: float, begin: int, end: int) -> float:
    """Density of gradual magnitude pruning at ``step`` (Zhu & Gupta 2017, eq. 1).

    .. math:: d_t = d_f + (d_i - d_f)\\left(1 - \\frac{t - t_0}{t_1 - t_0}\\right)^3,
        \\quad t_0 \\le t \\le t_1,

    :math:`d_i` before :math:`t_0` and :math:`d_f` after :math:`t_1`.

    Examples
    --------
    >>> cubic_density(50, 1.0, 0.1, 0, 100)
    0.2125
    """
    if step <= begin:
        return initial
    if step >= end:
        return final
    return final + (initial - final) * (1.0 - (step - begin) / (end - begin)) ** 3


def targeted_candidates(
    weight: torch.Tensor, mask: torch.Tensor, gamma: float, groups: torch.Tensor | None = None
) -> torch.Tensor:
    """The bottom ``gamma`` fraction of active weights by :math:`|w|` (targeted dropout's targets).

    Without ``groups`` (unconstrained targeted dropout, DNW appendix A): the
    :math:`\\operatorname{round}(\\gamma n)` smallest of the site's :math:`n` active weights. With
    ``groups`` (regular, Gomez et al. 2019): in each group (a neuron's incoming weights) the
    :math:`\\operatorname{round}(\\gamma n_g)` smallest of its :math:`n_g` active weights.

    Examples
    --------
    >>> w = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.3, 0.7]])
    >>> m = torch.ones(2, 3, dtype=torch.bool)
    >>> targeted_candidates(w, m, 0.34).int().tolist()
    [[1, 0, 1], [0, 0, 0]]
    >>> rows = torch.tensor([[0, 0, 0], [1, 1, 1]])
    >>> targeted_candidates(w, m, 0.34, rows).int().tolist()
    [[1, 0, 0], [0, 1, 0]]
    """
    score = -weight.detach().abs()
    if groups is None:
        return keep_largest(score, mask, round(gamma * int(mask.sum())))
    flat_mask = mask.reshape(-1)
    g = groups.reshape(-1).to(torch.int64)
    s = torch.where(flat_mask, score.reshape(-1).to(torch.float64), -math.inf)
    # order by (group, score descending, index): stable sorts, the last key first
    order = torch.argsort(-s, stable=True)
    order = order[torch.argsort(g[order], stable=True)]
    sorted_groups = g[order]
    counts = torch.bincount(g, weights=flat_mask.to(torch.float64)).round().long()
    budget = torch.round(gamma * counts.double()).long()
    starts = torch.cumsum(torch.bincount(g), 0) - torch.bincount(g)
    rank = torch.arange(order.numel(), device=order.device) - starts[sorted_groups]
    chosen = rank < budget[sorted_groups]
    out = torch.zeros_like(flat_mask)
    out[order[chosen]] = True
    return (out & flat_mask).view(mask.shape)


def adaptive_update(
    weight: torch.Tensor,
    grad: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator,
    *,
    alpha: float,
    k: float,
    l: float,  # noqa: E741 - the paper's name
    g: float,
    s: float,
    beta: float,
    beta_inactive: float | None,
    c_g: float,
    r: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of adaptive weight sparsity (*Adaptive Weight Sparsity for Training Deep Neural
    Networks*, ICLR 2018 submission, sec. 3), reconstructed.

    The paper's two formulas were garbled in extraction; reconstructed from its prose and the
    issue's statement, with :math:`a` the site's current density, :math:`\\alpha` its target:

    *Prune.* Sample a random fraction :math:`\\beta` of the active weights; :math:`\\bar W` is the
    mean :math:`|w|` of the sample. Each sampled weight is switched off with

    .. math:: P(1 \\to 0) = \\frac{1}{1 + \\exp\\left[g\\left(\\frac{|w|}{k \\bar W} - 1
        - s (a - \\alpha)\\right)\\right]},

    so weights below :math:`k \\bar W` go with probability above 1/2 ("deactivations of weights of
    magnitude :math:`k\\bar W` with probability 0.5"), more when the site is too dense.

    *Grow.* Sample a random fraction :math:`\\beta_0` of the inactive weights (those inactive
    before this update); :math:`\\bar V` is the mean :math:`|\\partial J / \\partial w|` of the
    sample. Each sampled position is switched on with

    .. math:: P(0 \\to 1) = \\frac{1}{1 + \\exp\\left[g\\left(\\frac{l \\bar V}{|\\partial J /
        \\partial w|} - 1 + s (a - \\alpha)\\right)\\right]}

    (0 where the gradient is 0) and starts at
    :math:`w = C_g \\, \\partial J / \\partial w + n`, :math:`n \\sim U(-r, r)`.

    The deterministic limit of sec. 4 (:math:`\\beta = 1`, :math:`g, s \\to \\infty`,
    :math:`C_g = 0`, :math:`r = 2 k \\bar W`) is taken when ``g`` and ``s`` are both infinite:
    every active weight with :math:`|w| < k \\bar W` is switched off and, :math:`s \\to \\infty`
    holding the count constant, the same number of positions with the largest
    :math:`|\\partial J / \\partial w|` among those now inactive is switched on (a position switched
    off and on again keeps its weight).

    Parameters
    ----------
    weight, grad : Tensor, shape S
        Weights and :math:`\\partial J / \\partial w` at every position.
    mask : Tensor of bool, shape S
        Active positions.
    generator : torch.Generator
        CPU generator of the samples, coin flips and noise (drawn in that order).
    alpha : float
        Target density :math:`\\alpha`.
    k, l, g, s : float
        Pruning threshold, growth threshold, sharpness, density bias.
    beta : float
        Fraction of active weights sampled.
    beta_inactive : float or None
        Fraction of inactive weights sampled (:math:`\\beta_0`); None: :math:`\\beta\\,a/(1-a)`,
        which samples as many inactive positions as active ones.
    c_g : float
        Gradient coefficient of new weights (a negative value is a descent step).
    r : float or None
        Noise radius of new weights; None: :math:`2 k \\bar W`.

    Returns
    -------
    new_mask : Tensor of bool, shape S
    new_weight : Tensor, shape S
        0 where ``new_mask`` is off.
    """
    w = weight.detach().reshape(-1)
    gr = grad.detach().reshape(-1)
    flat_m = mask.reshape(-1)
    device = flat_m.device
    m = flat_m.numel()
    active = torch.nonzero(flat_m).squeeze(1)
    a = active.numel() / m
    new_m = flat_m.clone()
    new_w = w.clone()
    if active.numel() == 0:
        return mask.clone(), weight.detach().clone()
    w_bar = 0.0
    fresh = torch.zeros(0, dtype=torch.int64, device=device)  # new connections
    fresh_grad = torch.zeros(0, dtype=torch.float64, device=device)

    if math.isinf(g) and math.isinf(s):  # sec. 4: deterministic, constant count
        w_bar = float(w.index_select(0, active).abs().double().mean())
        drop = flat_m & (w.abs() < k * w_bar)
        kept = flat_m & ~drop
        grown = keep_largest(gr.abs(), ~kept, int(drop.sum()))
        new_m = kept | grown
        fresh = torch.nonzero(grown & ~flat_m).squeeze(1)
        fresh_grad = gr.index_select(0, fresh).double()
    else:
        bias = s * (a - alpha)
        perm = torch.randperm(active.numel(), generator=generator)[: round(beta * active.numel())]
        sample = active.index_select(0, perm.to(device))
        coins = torch.rand(sample.numel(), generator=generator, dtype=torch.float64).to(device)
        if sample.numel():
            mag = w.index_select(0, sample).abs().double()
            w_bar = float(mag.mean())
            if w_bar > 0:
                x = mag / (k * w_bar) - 1.0 - bias
                new_m[sample[coins < _switch_probability(g, x)]] = False
        inactive = torch.nonzero(~flat_m).squeeze(1)
        b0 = beta * a / (1.0 - a) if beta_inactive is None else beta_inactive
        size = min(round(b0 * inactive.numel()), inactive.numel())
        perm = torch.randperm(inactive.numel(), generator=generator)[:size]
        grow = inactive.index_select(0, perm.to(device))
        coins = torch.rand(grow.numel(), generator=generator, dtype=torch.float64).to(device)
        if grow.numel():
            grad_s = gr.index_select(0, grow).double()
            mag = grad_s.abs()
            v_bar = float(mag.mean())
            y = torch.where(mag > 0, l * v_bar / mag.clamp_min(1e-300) - 1.0 + bias, math.inf)
            chosen = coins < _switch_probability(g, y)
            fresh, fresh_grad = grow[chosen], grad_s[chosen]
            new_m[fresh] = True
    if fresh.numel():
        radius = 2.0 * k * w_bar if r is None else r
        noise = torch.rand(fresh.numel(), generator=generator, dtype=torch.float64).to(device)
        new_w[fresh] = (c_g * fresh_grad + (2.0 * noise - 1.0) * radius).to(w.dtype)
    new_w = new_w.masked_fill(~new_m, 0.0)
    return new_m.view(mask.shape), new_w.view(weight.shape)


def _switch_probability(g: float, x: torch.Tensor) -> torch.Tensor:
    """:math:`1 / (1 + e^{g x})`; for infinite ``g`` the step function (1/2 at ``x = 0``)."""
    if math.isinf(g):
        return torch.where(x < 0, 1.0, torch.where(x > 0, 0.0, 0.5)).to(torch.float64)
    return torch.sigmoid(-g * x)
