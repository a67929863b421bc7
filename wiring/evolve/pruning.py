"""Pruning: gradual magnitude pruning, L1 + anneal, targeted dropout, one-shot and lottery tickets.

These rules lower the count of real weights (they are pruning schedules); every other rule keeps
it constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from wiring.evolve.base import (
    Rule,
    check_choice,
    check_int,
    check_number,
    register_rule,
    stored_sites,
)
from wiring.evolve.functional import cubic_density, keep_largest, targeted_candidates
from wiring.nn.dynamics import GraphModule
from wiring.nn.sites import _check_density, sites, sparsify

__all__ = [
    "L1Anneal",
    "MagnitudePruning",
    "TargetedDropout",
    "lottery_ticket",
    "prune_magnitude",
]

_SCHEDULES = ("cubic", "linear")


def _site_budget(site: Any, density: float, argument: str = "density") -> int:
    k = round(density * site.numel)
    if k < 1:
        raise ValueError(
            f"{argument}: {density} leaves site {site.name!r} ({site.numel} weights) with {k} "
            "real weights; every site needs at least one"
        )
    return k


@register_rule("magnitude")
class MagnitudePruning(Rule):
    """Gradual magnitude pruning (Zhu & Gupta 2017): from the current density down to ``density``.

    Between ``begin`` and ``end`` (fractions of the run) every ``every`` steps, each site keeps
    its :math:`\\operatorname{round}(d_t N)` largest :math:`|w|` (among its active weights: a
    pruned weight never returns), with

    .. math:: d_t = d_f + (d_i - d_f)\\left(1 - \\frac{t - t_0}{t_1 - t_0}\\right)^3

    (``schedule="cubic"``; ``"linear"`` uses the first power), :math:`d_i` the site's density when
    pruning starts (1 for a dense model made a site with ``wiring.sparsify(model, 1.0)``). The last
    update, at :math:`t_1`, reaches :math:`d_f` exactly. Then fine-tune (keep training).

    Parameters
    ----------
    density : float
        Final density :math:`d_f`, in (0, 1].
    begin, end : float
        Start and end of pruning as fractions of the run, ``0 <= begin < end <= 1``.
    every : int
        Steps between pruning updates.
    schedule : {"cubic", "linear"}
        Shape of the density schedule.
    seed : int
        Unused (a uniform interface).
    total_steps : int, optional
        The run's optimizer steps (set by the trainer when the rule is a callback).

    References
    ----------
    M. Zhu and S. Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model
    compression", ICLR 2018 workshop.
    """

    def __init__(
        self,
        density: float,
        *,
        begin: float = 0.0,
        end: float = 0.75,
        every: int = 100,
        schedule: str = "cubic",
        seed: int = 0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__(seed=seed, total_steps=total_steps)
        self.density = _check_density(density)
        self.begin = check_number("begin", begin, low=0, high=1, high_open=True)
        self.end = check_number("end", end, low=0, high=1, low_open=True)
        if not self.begin < self.end:
            raise ValueError(f"end: expected end > begin={self.begin}, found {self.end}")
        self.every = check_int("every", every, low=1)
        self.schedule = check_choice("schedule", schedule, _SCHEDULES)
        self.initial: list[int] | None = None  # per-site real counts when pruning started
        self.finished = False

    def _window(self) -> tuple[int, int]:
        total = self._total()
        return math.floor(self.begin * total), max(
            math.floor(self.end * total), math.floor(self.begin * total) + 1
        )

    def target_density(self, step: int, initial: float) -> float:
        """:math:`d_t` for a site that started at density ``initial``."""
        t0, t1 = self._window()
        if self.schedule == "cubic":
            return cubic_density(step, initial, self.density, t0, t1)
        if step <= t0:
            return initial
        if step >= t1:
            return self.density
        return self.density + (initial - self.density) * (1.0 - (step - t0) / (t1 - t0))

    def due(self, step: int) -> bool:
        """Update steps: ``t0, t0 + every, ...`` up to ``t1``, and the first step from ``t1`` on."""
        t0, t1 = self._window()
        if self.finished or step < t0:
            return False
        return step >= t1 or (step - t0) % self.every == 0

    def step(self, model: nn.Module, step: int) -> bool:
        if not self.due(step):
            return False
        found = stored_sites(model, type(self).__name__)
        if self.initial is None:
            for site in found:
                _site_budget(site, self.density)
            self.initial = [site.num_real for site in found]
        elif len(self.initial) != len(found):
            raise ValueError(
                f"model: the rule started on {len(self.initial)} sites, the model now has "
                f"{len(found)}"
            )
        changed = False
        for site, start in zip(found, self.initial, strict=True):
            k = round(self.target_density(step, start / site.numel) * site.numel)
            k = max(k, _site_budget(site, self.density))
            mask = site.mask
            if k < int(mask.sum()):
                site.set_mask(keep_largest(site.weight.detach().abs(), mask, k))
                changed = True
        self.updates += 1
        if step >= self._window()[1]:
            self.finished = True
        return changed

    def _extra_state(self) -> dict[str, Any]:
        return {"initial": self.initial, "finished": self.finished}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        initial = state.get("initial")
        self.initial = None if initial is None else [int(n) for n in initial]
        self.finished = bool(state.get("finished", False))

    def _params(self) -> dict[str, Any]:
        return {
            "density": self.density,
            "begin": self.begin,
            "end": self.end,
            "every": self.every,
            "schedule": self.schedule,
        }


@register_rule("l1-anneal")
class L1Anneal(MagnitudePruning):
    """L1 + anneal (DNW, Table 2): an L1 term on the real weights while edges are removed by
    magnitude until ``density`` remain.

    The loss gets :math:`\\lambda \\sum_{\\text{sites}} \\sum_i |w_i m_i|` (``extra_loss`` as a
    trainer callback, or :meth:`penalty` in your own loop); the pruning schedule is that of
    :class:`MagnitudePruning` (linear by default).

    Parameters
    ----------
    density : float
        Final density, in (0, 1].
    l1 : float
        :math:`\\lambda` (>= 0).
    begin, end, every, schedule, seed, total_steps
        As :class:`MagnitudePruning`.
    """

    def __init__(
        self,
        density: float,
        *,
        l1: float = 1e-4,
        begin: float = 0.0,
        end: float = 0.75,
        every: int = 100,
        schedule: str = "linear",
        seed: int = 0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__(
            density,
            begin=begin,
            end=end,
            every=every,
            schedule=schedule,
            seed=seed,
            total_steps=total_steps,
        )
        self.l1 = check_number("l1", l1, low=0.0)

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """:math:`\\lambda \\sum |w \\odot m|` over the sites of ``model`` (a scalar tensor).

        On stored-mask sites the weights off the mask are exactly 0, so this is
        :math:`\\lambda \\sum |w|` (no mask product; its gradient :math:`\\lambda\\,
        \\operatorname{sign}(w)` is 0 off the mask).
        """
        terms = [site.weight.abs().sum() for site in stored_sites(model, "L1Anneal")]
        return self.l1 * torch.stack(terms).sum()

    def extra_loss(self, trainer: Any) -> torch.Tensor:
        """Trainer hook: the L1 term, added to the training loss before backward."""
        return self.penalty(trainer.model)

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "l1": self.l1}


@register_rule("targeted-dropout")
class TargetedDropout(Rule):
    """Targeted weight dropout (Gomez et al. 2019) with DNW's unconstrained variant, then pruning.

    In every training step the bottom ``gamma`` fraction of active weights by :math:`|w|` are the
    targets — of each site (``unconstrained=True``, DNW appendix A: neurons may die) or of each
    neuron's incoming weights (regular) — and each target is dropped from that step's forward pass
    with probability ``rho`` (the site's transient ``selection.dropout``; evaluation passes use all
    weights). After the last step the targets are pruned for good: each site keeps the top
    :math:`1 - \\gamma`.

    ``step(model, t)`` prepares forward pass ``t`` (draws its dropout, returns False); from
    ``t = total_steps`` on it prunes (returns True once). As a trainer callback it draws before
    every step and prunes after the last one (the last epoch's evaluation sees the pruned
    model).

    Parameters
    ----------
    gamma : float
        Targeted fraction :math:`\\gamma`, in [0, 1).
    rho : float
        Drop probability :math:`\\rho` of a target, in [0, 1].
    unconstrained : bool
        Targets per site (True) or per neuron (False).
    seed : int
        Seed of the drops (step ``t`` draws from ``(seed, t)``).
    total_steps : int, optional
        The run's optimizer steps (set by the trainer when the rule is a callback).

    References
    ----------
    A. N. Gomez, I. Zhang, S. R. Kamalakara, D. Madaan, K. Swersky, Y. Gal and G. E. Hinton,
    "Learning Sparse Networks Using Targeted Dropout", arXiv:1905.13678 (2019).
    """

    def __init__(
        self,
        gamma: float,
        rho: float,
        unconstrained: bool = True,
        *,
        seed: int = 0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__(seed=seed, total_steps=total_steps)
        self.gamma = check_number("gamma", gamma, low=0, high=1, high_open=True)
        self.rho = check_number("rho", rho, low=0, high=1)
        if not isinstance(unconstrained, bool):
            raise ValueError(f"unconstrained: expected a bool, found {unconstrained!r}")
        self.unconstrained = unconstrained
        self.pruned = False

    def targets(self, site: Any) -> torch.Tensor:
        """The site's current targets (bool, weight-shaped)."""
        groups = None if self.unconstrained else site.destination
        return targeted_candidates(site.weight, site.mask, self.gamma, groups)

    def prune(self, model: nn.Module) -> bool:
        """Remove every site's targets (keep the top :math:`1 - \\gamma`); True if a mask changed."""
        changed = False
        for site in stored_sites(model, "TargetedDropout"):
            site.selection.dropout = None
            drop = self.targets(site)
            if drop.any():
                site.set_mask(site.mask & ~drop)
                changed = True
        self.pruned = True
        return changed

    def step(self, model: nn.Module, step: int) -> bool:
        if step >= self._total():
            return False if self.pruned else self.prune(model)
        generator = self._generator(step)
        for site in stored_sites(model, "TargetedDropout"):
            targets = torch.nonzero(self.targets(site).reshape(-1)).squeeze(1)
            coins = torch.rand(targets.numel(), generator=generator).to(targets.device)
            dropout = torch.zeros(site.numel, dtype=torch.bool, device=targets.device)
            dropout[targets[coins < self.rho]] = True
            site.selection.dropout = dropout.view(site.weight.shape)
        return False

    def on_train_start(self, trainer: Any) -> None:
        super().on_train_start(trainer)
        self.step(trainer.model, int(trainer.step))

    def on_step_end(self, trainer: Any, step: int, loss: float) -> bool:
        return self._act(trainer, step + 1)  # prepare the next forward pass (or prune)

    def _extra_state(self) -> dict[str, Any]:
        return {"pruned": self.pruned}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.pruned = bool(state.get("pruned", False))

    def _params(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "rho": self.rho, "unconstrained": self.unconstrained}


def prune_magnitude(model: nn.Module, density: float) -> nn.Module:
    """One-shot magnitude pruning (Han et al. 2015): each site keeps its largest :math:`|w|`.

    Each site keeps :math:`\\operatorname{round}(\\text{density} \\cdot N)` of its active weights
    (those of largest magnitude); a model without sites is first made sites of with
    ``wiring.sparsify(model, 1.0)``. Fine-tune afterwards (the masks stay fixed).

    Parameters
    ----------
    model : nn.Module
        Changed in place and returned.
    density : float
        Density kept, in (0, 1].

    References
    ----------
    S. Han, J. Pool, J. Tran and W. J. Dally, "Learning both Weights and Connections for Efficient
    Neural Networks", NeurIPS 2015.

    Examples
    --------
    >>> import torch, wiring
    >>> from torch import nn
    >>> layer = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[0.1, -2.0], [0.3, 1.0]]))
    >>> model = prune_magnitude(nn.Sequential(layer), 0.5)
    >>> wiring.sites(model)[0].mask.tolist()
    [[False, True], [False, True]]
    """
    density = _check_density(density)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
    if not sites(model):
        sparsify(model, 1.0)
    for site in stored_sites(model, "prune_magnitude"):
        k = _site_budget(site, density)
        site.set_mask(keep_largest(site.weight.detach().abs(), site.mask, k))
    return model


def lottery_ticket(
    trained: nn.Module,
    initial_state: Mapping[str, torch.Tensor],
    density: float,
    *,
    finetune: bool = False,
) -> nn.Module:
    """One-shot lottery ticket (Frankle & Carbin 2019; DNW Table 2), in place.

    Each site keeps the :math:`\\operatorname{round}(\\text{density} \\cdot N)` weights of largest
    magnitude *after training*; with ``finetune=False`` the model is then rewound to
    ``initial_state`` (its state dict before training: every parameter and buffer, so the kept
    weights start again from their initial values); with ``finetune=True`` the trained values are
    kept ("FT" in DNW). Train the returned model again with the masks fixed.

    Parameters
    ----------
    trained : nn.Module
        The trained model (made sites of with ``wiring.sparsify(trained, 1.0)`` if it has none).
    initial_state : mapping of str to Tensor
        ``model.state_dict()`` taken at initialisation, with or without sites (keys of a plain
        layer's ``weight`` are matched to its site).
    density : float
        Density kept, in (0, 1].
    finetune : bool
        Keep the trained weights instead of rewinding.

    Returns
    -------
    nn.Module
        ``trained``.

    References
    ----------
    J. Frankle and M. Carbin, "The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural
    Networks", ICLR 2019.
    """
    density = _check_density(density)
    if not isinstance(trained, nn.Module):
        raise TypeError(f"trained: expected a torch.nn.Module, found {type(trained).__name__}")
    if not isinstance(initial_state, Mapping):
        raise TypeError(
            f"initial_state: expected a state dict (mapping), found {type(initial_state).__name__}"
        )
    if not isinstance(finetune, bool):
        raise ValueError(f"finetune: expected a bool, found {finetune!r}")
    if not sites(trained):
        sparsify(trained, 1.0)
    found = stored_sites(trained, "lottery_ticket")
    masks = [
        keep_largest(site.weight.detach().abs(), site.mask, _site_budget(site, density))
        for site in found
    ]
    if not finetune:
        _rewind(trained, initial_state)
    for site, mask in zip(sites(trained), masks, strict=True):
        site.set_mask(mask)
    return trained


def _rewind(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load ``state`` into ``model``; plain ``<layer>.<weight>`` keys are mapped onto sites."""
    renamed = dict(state)
    mask_keys = set()
    for site in sites(model):
        path = site.name[: -len(site.attr)]  # "<layer>." or ""
        if isinstance(site.module, GraphModule):
            mask_keys.update(f"{path}selection.{n}" for n, _ in site.selection.named_buffers())
            continue
        wrapped = f"{path}parametrizations.{site.attr}"
        if site.name in renamed:
            renamed[f"{wrapped}.original"] = renamed.pop(site.name)
        mask_keys.update(f"{wrapped}.0.{n}" for n, _ in site.selection.named_buffers())
    try:
        missing, unexpected = model.load_state_dict(renamed, strict=False)
    except RuntimeError as err:
        raise ValueError(f"initial_state: does not fit the model ({err})") from err
    missing = [k for k in missing if k not in mask_keys]
    if missing or unexpected:
        raise ValueError(
            f"initial_state: does not fit the model: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
