"""The rule protocol, the registry of rules, parameter checks and the trainer hooks.

A rule is an object with ``step(model, step) -> bool`` (True when a mask changed) and
``state_dict()`` / ``load_state_dict(state)``. The same object works in a user's own loop::

    loss.backward()
    if rule.step(model, i):                       # right after backward: site gradients are there
        wiring.evolve.reset_optimizer_state(optimizer, model)
    optimizer.step()

and as a callback of ``wiring.train.train(..., callbacks=[rule])``, through the hooks
``on_train_start``, ``on_after_backward`` (rules that read gradients), ``extra_loss`` (L1) and
``on_step_end``; a hook returns True when a mask changed, and the trainer then zeroes the optimizer
state of the weights now off. Rules find their sites with :func:`wiring.sites` — never by parameter
names.

Randomness is *stateless*: the generator of the update at step ``t`` is seeded from
``(seed, t)``. A run resumed from a checkpoint therefore draws exactly what the uninterrupted run
drew, and every rank of a distributed run draws the same (their gradients are averaged before use,
so their masks stay equal).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from wiring.nn.sites import Site, sites

__all__ = ["RULES", "Rule", "make_rule", "register_rule", "rule_parameters"]

#: Evolution rules by name: a :class:`Rule` subclass or a factory returning one. Extend with
#: :func:`register_rule`.
RULES: dict[str, Callable[..., Rule]] = {}


def register_rule(name: str) -> Callable[[Any], Any]:
    """Decorator adding a rule class (or a factory returning a rule) to :data:`RULES`.

    Examples
    --------
    >>> @register_rule("never")
    ... class Never(Rule):
    ...     def step(self, model, step):
    ...         return False
    >>> make_rule("never").step(None, 0)
    False
    >>> del RULES["never"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty str, found {name!r}")

    def deco(factory: Any) -> Any:
        if not callable(factory):
            raise TypeError(f"register_rule({name!r}): expected a class or a callable")
        if isinstance(factory, type) and issubclass(factory, Rule):
            factory.name = name
        RULES[name] = factory
        return factory

    return deco


def rule_parameters(name: str) -> dict[str, Any]:
    """The parameters of the rule ``name`` and their defaults (``inspect.Parameter.empty``: none).

    Examples
    --------
    >>> import wiring.evolve
    >>> rule_parameters("rigl")["drop_fraction"]
    0.3
    """
    factory = _lookup(name)
    signature = inspect.signature(factory)
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def make_rule(name: str, /, **params: Any) -> Rule:
    """Build the registered rule ``name`` with ``params`` (e.g. from a TOML ``[evolve]`` section).

    Raises
    ------
    ValueError
        An unknown rule (the message lists the registered ones), an unknown parameter (the message
        lists the valid ones), a missing required one, or a value out of range (named).

    Examples
    --------
    >>> import wiring.evolve
    >>> make_rule("rigl", drop_fraction=0.5, every=10).drop_fraction
    0.5
    >>> make_rule("rigl", drop=0.5)
    Traceback (most recent call last):
    ...
    ValueError: rigl: unknown parameter(s) ['drop']; expected some of ['drop_fraction', 'every', 'schedule', 'seed', 'total_steps', 'until']
    """
    factory = _lookup(name)
    valid = rule_parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"{name}: unknown parameter(s) {unknown}; expected some of {sorted(valid)}"
        )
    missing = sorted(
        p for p, default in valid.items() if default is inspect.Parameter.empty and p not in params
    )
    if missing:
        raise ValueError(f"{name}: missing required parameter(s) {missing}")
    return factory(**params)


def _lookup(name: Any) -> Callable[..., Rule]:
    if not isinstance(name, str) or name not in RULES:
        raise ValueError(f"rule: expected one of {sorted(RULES)}, found {name!r}")
    return RULES[name]


# ---------------------------------------------------------------------------- parameter checks


def check_int(name: str, value: Any, *, low: int = 0) -> int:
    """``value`` as an int >= ``low``, else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, found {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """``value`` as a float in the interval, else ValueError naming ``name`` and the interval."""
    span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = not math.isnan(v) and (allow_inf or math.isfinite(v))
        ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"{name}: expected a number in {span}, found {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else ValueError naming ``name``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, found {value!r}")
    return str(value)


def step_seed(seed: int, step: int, salt: int = 0) -> torch.Generator:
    """A CPU generator seeded from ``(seed, step, salt)`` only (stateless randomness)."""
    state = np.random.SeedSequence([seed, step, salt]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def synced_grad(site: Site) -> torch.Tensor:
    """The site's full effective-weight gradient, averaged over the ranks of a distributed run.

    Raises
    ------
    ValueError
        If no backward pass has reached the site yet.
    """
    grad = site.grad
    if grad is None:
        raise ValueError(
            f"model: site {site.name!r} has no gradient yet; call the rule's step(model, step) "
            "after loss.backward()"
        )
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        grad = grad.clone()
        dist.all_reduce(grad)
        grad /= dist.get_world_size()
    return grad


def stored_sites(model: nn.Module, rule: str) -> list[Site]:
    """The sites of ``model``; every one must have a stored mask (rule ``"fixed"``)."""
    found = sites(model)
    if not found:
        raise ValueError(
            f"model: {rule} needs sites; call wiring.sparsify(model, density) first (or compile a "
            "graph with selection='fixed')"
        )
    for site in found:
        if not site.stored:
            raise ValueError(
                f"model: {rule} changes stored masks, but site {site.name!r} uses the "
                f"{site.selection.name or type(site.selection).__name__!r} selection, whose mask "
                "follows the weights; use rule='fixed' (sparsify) or selection='fixed' (compile)"
            )
    return found


# ------------------------------------------------------------------------------------- the rule


class Rule:
    """Base class of evolution rules (subclassing is optional; the hooks below come with it).

    Subclasses implement :meth:`step` and set ``reads_gradients`` when they need the site
    gradients of the current step (they then act in ``on_after_backward``, before the optimizer
    step; the others act in ``on_step_end``). State that must survive a resume goes into
    :meth:`state_dict` (override :meth:`_extra_state` / :meth:`_load_extra_state`).

    Parameters
    ----------
    seed : int
        Seed of the rule's random draws (stateless: an update at step ``t`` uses ``(seed, t)``).
    total_steps : int, optional
        Number of optimizer steps of the run, for schedules given as fractions of it; taken from
        the trainer when the rule is a callback.
    """

    name: ClassVar[str] = ""
    reads_gradients: ClassVar[bool] = False

    def __init__(self, *, seed: int = 0, total_steps: int | None = None) -> None:
        self.seed = check_int("seed", seed)
        self.total_steps = (
            None if total_steps is None else check_int("total_steps", total_steps, low=1)
        )
        self.updates = 0  # mask updates so far
        self._acted_at: int | None = None

    # ------------------------------------------------------------------ to implement
    def step(self, model: nn.Module, step: int) -> bool:
        """Update the masks of ``model``'s sites for optimizer step ``step``; True if any changed."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _total(self) -> int:
        if self.total_steps is None:
            raise ValueError(
                f"total_steps: {type(self).__name__} schedules by fractions of the run and needs "
                "its number of optimizer steps; pass total_steps=..., or use the rule as a "
                "callback of wiring.train (which sets it)"
            )
        return self.total_steps

    def _generator(self, step: int, salt: int = 0) -> torch.Generator:
        return step_seed(self.seed, step, salt)

    # ------------------------------------------------------------------ trainer hooks
    def on_train_start(self, trainer: Any) -> None:
        """Take the run's number of steps from the trainer when none was given."""
        if self.total_steps is None:
            self.total_steps = int(trainer.config.epochs) * int(trainer.steps_per_epoch)

    def _act(self, trainer: Any, step: int) -> bool:
        # A True return makes the trainer zero the optimizer state of the weights now off
        # (wiring.nn.sites.reset_optimizer_state); in your own loop, call it yourself.
        self._acted_at = step
        return bool(self.step(trainer.model, step))

    def on_after_backward(self, trainer: Any, step: int) -> bool:
        """Gradient-reading rules act here (site gradients of this step, before the optimizer)."""
        return self._act(trainer, step) if self.reads_gradients else False

    def on_step_end(self, trainer: Any, step: int, loss: float) -> bool:
        """Other rules act here, after the optimizer step.

        A gradient-reading rule acts here too if its trainer never called ``on_after_backward``
        for this step: the site gradients of the step are still in place.
        """
        if self.reads_gradients and self._acted_at == step:
            return False
        return self._act(trainer, step)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (numbers and lists: safe for ``weights_only`` loading)."""
        return {
            "rule": self.name,
            "seed": self.seed,
            "total_steps": self.total_steps,
            "updates": self.updates,
            **self._extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the rule must be of the same kind."""
        if not isinstance(state, Mapping) or state.get("rule") != self.name:
            found = state.get("rule") if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"state: expected the state of a {self.name!r} rule, found {found!r}")
        self.seed = int(state["seed"])
        self.total_steps = None if state["total_steps"] is None else int(state["total_steps"])
        self.updates = int(state["updates"])
        self._load_extra_state(state)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        return None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({fields})"

    def _params(self) -> dict[str, Any]:
        return {"seed": self.seed}
