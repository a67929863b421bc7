"""Dynamic sparse training: RigL, SET and adaptive weight sparsity (constant or near-constant count)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from wiring.evolve.base import (
    Rule,
    check_choice,
    check_int,
    check_number,
    register_rule,
    stored_sites,
    synced_grad,
)
from wiring.evolve.functional import adaptive_update, drop_fraction, rigl_update, set_update
from wiring.nn.sites import Site

__all__ = ["SET", "AdaptiveSparsity", "RigL"]

_SCHEDULES = ("cosine", "constant")


def _apply(site: Site, new_mask: torch.Tensor, new_weight: torch.Tensor) -> bool:
    """Write a site's new weights and mask; True when the mask changed."""
    changed = not torch.equal(new_mask, site.mask)
    with torch.no_grad():
        site.weight.copy_(new_weight)
    site.set_mask(new_mask)
    return changed


class _DropGrow(Rule):
    """Shared schedule of RigL and SET: every ``every`` steps until ``until`` of the run."""

    def __init__(
        self,
        drop_fraction: float = 0.3,
        every: int = 100,
        until: float = 0.75,
        schedule: str = "cosine",
        *,
        seed: int = 0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__(seed=seed, total_steps=total_steps)
        self.drop_fraction = check_number(
            "drop_fraction", drop_fraction, low=0, high=1, low_open=True
        )
        self.every = check_int("every", every, low=1)
        self.until = check_number("until", until, low=0, high=1, low_open=True)
        self.schedule = check_choice("schedule", schedule, _SCHEDULES)

    def _end(self) -> int:
        return math.floor(self.until * self._total())

    def fraction(self, step: int) -> float:
        """Fraction of each site's active weights replaced at ``step`` (see
        :func:`~wiring.evolve.functional.drop_fraction`)."""
        return drop_fraction(step, self.drop_fraction, self._end(), self.schedule)

    def due(self, step: int) -> bool:
        """True at the update steps: ``every, 2 every, ...`` before ``until`` of the run."""
        return step > 0 and step % self.every == 0 and step < self._end()

    def step(self, model: nn.Module, step: int) -> bool:
        if not self.due(step):
            return False
        found = stored_sites(model, type(self).__name__)
        fraction = self.fraction(step)
        generator = self._generator(step)
        changed = False
        for site in found:
            n = math.floor(fraction * site.num_real)
            if n > 0:
                changed |= _apply(site, *self._update(site, n, generator))
        self.updates += 1
        return changed

    def _update(
        self, site: Site, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {
            "drop_fraction": self.drop_fraction,
            "every": self.every,
            "until": self.until,
            "schedule": self.schedule,
            "seed": self.seed,
        }


@register_rule("rigl")
class RigL(_DropGrow):
    """RigL (Evci et al. 2020): replace the weakest weights by the ones with the largest gradient.

    Every ``every`` steps :math:`t < T_{end} = \\lfloor \\text{until} \\cdot T \\rfloor`, each site
    drops :math:`n = \\lfloor f(t) \\, |\\theta| \\rfloor` of its :math:`|\\theta|` active weights
    with the smallest :math:`|w|` and grows the :math:`n` positions with the largest
    :math:`|\\partial L / \\partial w|` among the inactive ones; grown weights start at 0
    (:func:`~wiring.evolve.functional.rigl_update`). The count per site is constant.
    :math:`f(t)` anneals ``drop_fraction`` along a cosine (or keeps it constant).

    The gradient is the full one of the current step, with respect to the effective weights at
    every position: each site records it during the ordinary backward pass (see
    :mod:`wiring.nn.sites`) — no dense forward pass is needed. In a distributed run it is averaged
    over the ranks first.

    Parameters
    ----------
    drop_fraction : float
        :math:`f_0`, in (0, 1].
    every : int
        Steps between updates (:math:`\\Delta T`).
    until : float
        Fraction of the run's steps after which masks stay fixed, in (0, 1].
    schedule : {"cosine", "constant"}
        Annealing of the drop fraction.
    seed : int
        Unused by RigL's choices (kept for a uniform interface).
    total_steps : int, optional
        The run's optimizer steps (set by the trainer when the rule is a callback).

    References
    ----------
    U. Evci, T. Gale, J. Menick, P. S. Castro and E. Elsen, "Rigging the Lottery: Making All
    Tickets Winners", ICML 2020.

    Examples
    --------
    >>> import torch, wiring
    >>> from torch import nn
    >>> model = wiring.sparsify(nn.Sequential(nn.Linear(20, 20)), 0.2)
    >>> rule = RigL(drop_fraction=0.5, every=1, total_steps=10)
    >>> model(torch.randn(8, 20)).pow(2).sum().backward()
    >>> rule.step(model, 1), wiring.sites(model)[0].num_real
    (True, 80)
    """

    reads_gradients: ClassVar[bool] = True

    def _update(
        self, site: Site, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return rigl_update(site.weight, synced_grad(site), site.mask, n)


@register_rule("set")
class SET(_DropGrow):
    """SET (Mocanu et al. 2018): as :class:`RigL`, but new connections are grown at random.

    Parameters and schedule as :class:`RigL`; ``seed`` seeds the random growth (the update at
    step ``t`` draws from ``(seed, t)``).

    References
    ----------
    D. C. Mocanu, E. Mocanu, P. Stone, P. H. Nguyen, M. Gibescu and A. Liotta, "Scalable training
    of artificial neural networks with adaptive sparse connectivity inspired by network science",
    Nature Communications 9, 2383 (2018).
    """

    def _update(
        self, site: Site, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return set_update(site.weight, site.mask, n, generator)


@register_rule("adaptive")
class AdaptiveSparsity(Rule):
    """Adaptive weight sparsity (ICLR 2018 submission, sec. 3): stochastic prune and grow.

    Every ``every`` steps before ``until`` of the run, each site is updated by
    :func:`~wiring.evolve.functional.adaptive_update` (the reconstructed formulas are in its
    docstring):

    .. math:: P(1 \\to 0) = \\left(1 + \\exp\\left[g\\left(\\tfrac{|w|}{k \\bar W} - 1
        - s (a - \\alpha)\\right)\\right]\\right)^{-1}, \\quad
        P(0 \\to 1) = \\left(1 + \\exp\\left[g\\left(\\tfrac{l \\bar V}{|\\partial J / \\partial w|}
        - 1 + s (a - \\alpha)\\right)\\right]\\right)^{-1},

    new weights :math:`C_g \\, \\partial J / \\partial w + U(-r, r)`. The count of active weights
    drifts around the target :math:`\\alpha` (the :math:`s` term pulls it back); with
    :meth:`deterministic` it is constant.

    The gradients of inactive weights come from the ordinary backward pass: every site records
    :math:`\\partial J / \\partial (w \\odot m)` at every position (autograd computes the full
    weight gradient of a linear or convolutional layer anyway), so the model's forward pass stays
    sparse (see :mod:`wiring.nn.sites`).

    Parameters
    ----------
    alpha : float, optional
        Target density :math:`\\alpha` in (0, 1]; default: each site's density at the first
        update.
    k : float
        Pruning threshold relative to the mean active magnitude (> 0; the paper finds 0.25–0.5
        good).
    l : float
        Growth threshold relative to the mean inactive gradient magnitude (> 0).
    g : float
        Sharpness (> 0, ``inf`` for step functions).
    s : float
        Bias towards the target density (>= 0; ``inf`` only with ``g = inf``: constant count).
    beta : float
        Fraction of active weights sampled per update, in (0, 1]. Small samples change few weights
        per update, so the :math:`s` term steers the density smoothly: with :math:`\\beta = 1` and
        :math:`s = 100` one update can overshoot the target and the next remove nearly every
        weight.
    beta_inactive : float, optional
        Fraction of inactive weights sampled, in (0, 1]; default :math:`\\beta a / (1 - a)`.
    c_g : float
        Gradient coefficient of new weights.
    r : float, optional
        Noise radius of new weights (>= 0); default :math:`2 k \\bar W`.
    every : int
        Steps between updates.
    until : float
        Fraction of the run after which masks stay fixed, in (0, 1].
    seed : int
        Seed of the samples, coin flips and noise (the update at step ``t`` draws from
        ``(seed, t)``).
    total_steps : int, optional
        The run's optimizer steps (set by the trainer when the rule is a callback).
    """

    reads_gradients: ClassVar[bool] = True

    def __init__(
        self,
        alpha: float | None = None,
        *,
        k: float = 0.5,
        l: float = 1.0,  # noqa: E741 - the paper's name
        g: float = 10.0,
        s: float = 100.0,
        beta: float = 0.1,
        beta_inactive: float | None = None,
        c_g: float = 0.0,
        r: float | None = None,
        every: int = 100,
        until: float = 1.0,
        seed: int = 0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__(seed=seed, total_steps=total_steps)
        pos = {"low": 0.0, "low_open": True}
        self.alpha = None if alpha is None else check_number("alpha", alpha, high=1, **pos)
        self.k = check_number("k", k, **pos)
        self.l = check_number("l", l, **pos)
        self.g = check_number("g", g, allow_inf=True, **pos)
        self.s = check_number("s", s, low=0.0, allow_inf=True)
        if math.isinf(self.s) and not math.isinf(self.g):
            raise ValueError(
                f"s: s = inf (constant count) needs g = inf as well, found g={self.g!r}"
            )
        self.beta = check_number("beta", beta, high=1, **pos)
        self.beta_inactive = (
            None
            if beta_inactive is None
            else check_number("beta_inactive", beta_inactive, high=1, **pos)
        )
        self.c_g = check_number("c_g", c_g)
        self.r = None if r is None else check_number("r", r, low=0.0)
        self.every = check_int("every", every, low=1)
        self.until = check_number("until", until, high=1, **pos)
        self.alphas: list[float] | None = None  # per-site targets, fixed at the first update

    @classmethod
    def deterministic(
        cls,
        k: float = 0.5,
        *,
        alpha: float | None = None,
        every: int = 100,
        until: float = 1.0,
        seed: int = 0,
        total_steps: int | None = None,
    ) -> AdaptiveSparsity:
        """The setting of sec. 4: :math:`\\beta = 1`, :math:`g, s \\to \\infty`, :math:`C_g = 0`,
        :math:`r = 2 k \\bar W`.

        Every active weight with :math:`|w| < k \\bar W` (:math:`\\bar W` the mean active
        magnitude) is removed and as many inactive positions with the largest gradient magnitude
        are activated, with values from :math:`U(-2k\\bar W, 2k\\bar W)`: the count is constant.
        """
        return cls(
            alpha,
            k=k,
            g=math.inf,
            s=math.inf,
            beta=1.0,
            c_g=0.0,
            r=None,
            every=every,
            until=until,
            seed=seed,
            total_steps=total_steps,
        )

    def due(self, step: int) -> bool:
        """True at ``every, 2 every, ...`` before ``until`` of the run."""
        return step > 0 and step % self.every == 0 and step < math.floor(self.until * self._total())

    def step(self, model: nn.Module, step: int) -> bool:
        if not self.due(step):
            return False
        found = stored_sites(model, "AdaptiveSparsity")
        if self.alphas is None:
            self.alphas = [site.density for site in found]
        elif len(self.alphas) != len(found):
            raise ValueError(
                f"model: the rule started on {len(self.alphas)} sites, the model now has "
                f"{len(found)}"
            )
        generator = self._generator(step)
        changed = False
        for site, alpha in zip(found, self.alphas, strict=True):
            new = adaptive_update(
                site.weight,
                synced_grad(site),
                site.mask,
                generator,
                alpha=self.alpha if self.alpha is not None else alpha,
                k=self.k,
                l=self.l,
                g=self.g,
                s=self.s,
                beta=self.beta,
                beta_inactive=self.beta_inactive,
                c_g=self.c_g,
                r=self.r,
            )
            changed |= _apply(site, *new)
        self.updates += 1
        return changed

    def _extra_state(self) -> dict[str, Any]:
        return {"alphas": self.alphas}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        alphas = state.get("alphas")
        self.alphas = None if alphas is None else [float(a) for a in alphas]

    def _params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "k": self.k, "g": self.g, "s": self.s, "every": self.every}


register_rule("adaptive-deterministic")(AdaptiveSparsity.deterministic)
