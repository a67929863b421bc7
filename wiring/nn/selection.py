"""Selection rules: which positions of a weight are real in a forward pass, and where gradients go.

A selection rule is a small module shared by every kind of *site* (see :mod:`wiring.nn.sites`): the
candidate weights of a compiled graph (``model.weight``, shape (m,)) and the weight of an ordinary
``nn.Linear``/``nn.Conv1d``/``nn.Conv2d``/``nn.LSTM`` after :func:`wiring.sparsify`. It turns the
weight ``w`` into the effective weight used by the forward pass, :math:`w \\odot \\text{mask}`, once
per forward pass (not once per time step or ODE evaluation), and decides which gradient the
parameter receives.

Rules (Wortsman et al., *Discovering Neural Wirings*, NeurIPS 2019, Algorithm 1); the top-k mask
is :func:`top_k_mask`, an O(m) selection, never a full sort:

``"dnw"``
    Real = the ``k`` positions of largest :math:`|w|`. Straight-through backward: every weight
    receives :math:`\\partial L / \\partial w_{uv} = \\langle Z_u, \\partial L / \\partial I_v
    \\rangle`, real or hallucinated, while no gradient flows *through* hallucinated edges to
    :math:`Z_u` (their forward value is 0).
``"dnw-no-update"``
    The paper's ablation: the same top-``k`` forward, but hallucinated positions receive no
    gradient.
``"fixed"``
    A stored mask (a buffer: it is saved in ``state_dict()`` and checkpoints), changed only by an
    evolution rule (:mod:`wiring.evolve`) through :meth:`Selection.set_mask`. For a compiled
    graph it is the graph's own real mask (random-graph baseline, pruned or lottery masks); for
    :func:`wiring.sparsify` a random draw.

Whatever the rule, the gradient of the loss with respect to the *effective* weight at every
position, real or not, is kept on the rule after each backward pass
(:attr:`Selection.effective_grad`, read through ``site.grad``): evolution rules such as RigL grow
connections where it is large.

Extending: subclass :class:`Selection`, override :meth:`Selection.mask` (and, for another gradient
rule, set ``straight_through`` or override :meth:`Selection.apply`), and register the class with
:func:`register_selection`; ``compile(..., selection=name)`` and ``sparsify(..., rule=name)`` then
accept it, as they accept an instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from wiring._topk import top_k_mask as _top_k_mask_numpy

__all__ = [
    "SELECTIONS",
    "FixedMask",
    "Selection",
    "TopK",
    "TopKNoUpdate",
    "make_selection",
    "register_selection",
    "top_k_mask",
]


class _MaskedWeight(torch.autograd.Function):
    """``w * mask`` forward; the backward records dL/d(w * mask) on the rule, then masks it or not.

    For ``nn.Linear``/``nn.Conv*``/``nn.LSTM`` and for the compiled graphs' message passing,
    autograd computes the gradient with respect to the effective weight at every position anyway
    (it is one dense product of the input and the output gradient), so recording it costs no extra
    computation and the forward pass stays as sparse as it was.
    """

    @staticmethod
    def forward(
        ctx: Any, weight: torch.Tensor, mask: torch.Tensor, rule: Selection
    ) -> torch.Tensor:
        ctx.rule = rule
        ctx.pass_id = rule._next_pass()
        ctx.save_for_backward(mask)
        return weight * mask

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        rule: Selection = ctx.rule
        rule._record_grad(grad, ctx.pass_id)
        if rule.straight_through:
            return grad, None, None
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


class Selection(torch.nn.Module):
    """Base class of selection rules.

    A rule maps a weight tensor ``w`` (any shape) to a boolean mask of the same shape
    (:meth:`mask`) and to the effective weight :math:`w \\odot \\text{mask}` (:meth:`forward`).

    Class attributes
    ----------------
    name : str
        The registered name (set by :func:`register_selection`).
    straight_through : bool
        True: the parameter's gradient is :math:`\\partial L / \\partial (w \\odot m)` at every
        position (DNW); False: it is masked, so an optimizer moves only real weights.
    stored : bool
        True when the mask is state (a buffer) that :meth:`set_mask` may change; False when it is
        a function of the weights (top-k).

    Attributes
    ----------
    effective_grad : Tensor or None
        :math:`\\partial L / \\partial (w \\odot m)` at every position, real or not, from the
        latest forward pass that was differentiated (summed over every use of that pass's effective
        weight, e.g. all ODE evaluations of the adjoint). It is replaced, not accumulated, by the
        backward pass of a later forward pass.
    dropout : Tensor of bool or None
        A transient mask of positions dropped from *training* forward passes only (targeted
        dropout sets it each step); not saved in ``state_dict``.

    Subclasses registered with :func:`register_selection` are built as
    ``cls(k=k, real=real, groups=groups)``: ``k`` the number of real positions (an int, or for a
    compiled graph a mapping of block id to budget), ``real`` the initial real mask (bool tensor,
    weight-shaped: the graph's mask, or a random draw of ``k`` positions for ``sparsify``) and
    ``groups`` (int tensor, weight-shaped, or None: each candidate's destination block for a
    compiled graph).
    """

    name: ClassVar[str] = ""
    straight_through: ClassVar[bool] = False
    stored: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.effective_grad: torch.Tensor | None = None
        self.register_buffer("dropout", None, persistent=False)
        self._passes = 0  # forward passes through `apply` so far
        self._grad_pass = -1  # the pass `effective_grad` belongs to

    # ----------------------------------------------------------------- the rule
    def mask(self, weight: torch.Tensor) -> torch.Tensor:
        """Boolean mask of real positions for these weights, same shape as ``weight``."""
        raise NotImplementedError

    def set_mask(self, mask: torch.Tensor) -> None:
        """Replace the stored mask (rules with ``stored = True`` only).

        Prefer :meth:`wiring.nn.sites.Site.set_mask`, which also zeroes the weights (and their
        gradients) where the new mask is off.
        """
        raise ValueError(
            f"mask: the {self.name or type(self).__name__!r} selection computes its mask from the "
            "weights; only a rule with a stored mask (e.g. 'fixed') can be given one"
        )

    def forward_mask(self, weight: torch.Tensor) -> torch.Tensor:
        """The mask of the next forward pass: :meth:`mask`, minus :attr:`dropout` in training."""
        mask = self.mask(weight)
        if self.training and self.dropout is not None:
            mask = mask & ~self.dropout
        return mask

    def apply(self, weight: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Effective weight :math:`w \\odot m` with this rule's gradient; records the site gradient."""
        return _MaskedWeight.apply(weight, mask.to(weight.dtype), self)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        """The effective weight (what ``torch.nn.utils.parametrize`` calls for an ordinary layer)."""
        with torch.no_grad():
            mask = self.forward_mask(weight.detach())
        return self.apply(weight, mask)

    # ----------------------------------------------------------------- gradient bookkeeping
    def _next_pass(self) -> int:
        self._passes += 1
        return self._passes

    def _record_grad(self, grad: torch.Tensor, pass_id: int) -> None:
        grad = grad.detach()
        if pass_id == self._grad_pass and self.effective_grad is not None:
            self.effective_grad = self.effective_grad + grad
        else:
            self.effective_grad = grad
            self._grad_pass = pass_id


class TopK(Selection):
    """``"dnw"``: the ``k`` positions of largest :math:`|w|`, straight-through gradient.

    Parameters
    ----------
    k : int or mapping of group id to int
        Number of real positions, or a budget per group (a compiled graph's destination blocks).
    real : Tensor of bool, optional
        Ignored (the mask follows the weights); accepted so the registry can build every rule
        alike.
    groups : Tensor of int, optional
        Group of every position (needed for a mapping ``k``).
    """

    straight_through = True

    def __init__(
        self,
        *,
        k: int | Mapping[int, int],
        real: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.budgets: list[tuple[int, int]] = []
        if isinstance(k, Mapping):
            if groups is None:
                raise ValueError(
                    "k: a mapping of budgets needs the groups of the positions (compile's "
                    "destination blocks); give an int"
                )
            g = np.asarray(torch.as_tensor(groups).cpu()).reshape(-1)
            present = sorted(set(np.unique(g).tolist()))
            missing = [b for b in present if b not in k]
            if missing:
                raise ValueError(
                    f"k: expected a budget for every block with incoming candidates {present}, "
                    f"found no entry for block(s) {missing}"
                )
            for b, kb in k.items():
                idx = np.flatnonzero(g == b)
                _check_k(kb, idx.size, f"k[{b}]")
                self.budgets.append((int(b), int(kb)))
                self.register_buffer(f"_idx_{int(b)}", torch.tensor(idx), persistent=False)
            self.k = sum(kb for _, kb in self.budgets)
        else:
            size = None if real is None else int(real.numel())
            if groups is not None:
                size = int(torch.as_tensor(groups).numel())
            _check_k(k, size, "k")
            self.k = int(k)

    def mask(self, weight: torch.Tensor) -> torch.Tensor:
        score = weight.abs().reshape(-1)
        if not self.budgets:
            return top_k_mask(score, self.k).view(weight.shape)
        mask = torch.zeros_like(score, dtype=torch.bool)
        for b, kb in self.budgets:
            idx = getattr(self, f"_idx_{b}")
            mask[idx] = top_k_mask(score.index_select(0, idx), kb)
        return mask.view(weight.shape)

    def extra_repr(self) -> str:
        return f"k={self.k}" + (f", budgets={dict(self.budgets)}" if self.budgets else "")


class TopKNoUpdate(TopK):
    """``"dnw-no-update"``: top-``k`` forward; hallucinated positions receive no gradient."""

    straight_through = False


class FixedMask(Selection):
    """``"fixed"``: a stored real mask (buffer ``real``), changed only through :meth:`set_mask`.

    Parameters
    ----------
    real : Tensor or array of bool
        The initial mask (weight-shaped).
    k : int, optional
        Must equal ``real.sum()`` when given (the mask fixes the count).
    groups : Tensor, optional
        Ignored.
    """

    stored = True

    def __init__(
        self,
        *,
        real: torch.Tensor | np.ndarray,
        k: int | Mapping[int, int] | None = None,
        groups: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        real_t = torch.as_tensor(
            np.asarray(real, dtype=bool) if isinstance(real, np.ndarray) else real
        )
        if real_t.dtype != torch.bool:
            raise ValueError(f"real: expected a bool mask, found dtype {real_t.dtype}")
        count = int(real_t.sum())
        if k is not None and (isinstance(k, Mapping | bool) or k != count):
            raise ValueError(
                f"k: selection='fixed' keeps the mask's own {count} real positions; "
                f"found k={k!r} (pick edges first with graph.with_top_k or random_k)"
            )
        self.register_buffer("real", real_t.clone())

    @property
    def k(self) -> int:
        """Number of real positions of the stored mask."""
        return int(self.real.sum())

    def mask(self, weight: torch.Tensor) -> torch.Tensor:
        return self.real

    def set_mask(self, mask: torch.Tensor) -> None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise ValueError(f"mask: expected a bool tensor, found {_describe(mask)}")
        if mask.shape != self.real.shape:
            raise ValueError(
                f"mask: expected shape {tuple(self.real.shape)}, found {tuple(mask.shape)}"
            )
        self.real.copy_(mask)

    def extra_repr(self) -> str:
        return f"k={self.k}"


def top_k_mask(score: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the ``k`` largest entries of ``score`` (shape (m,)); ties go to lower indices.

    The tie rule has one definition, :func:`wiring._topk.top_k_mask` (also used by
    :meth:`wiring.NeuralGraph.with_top_k`): on the CPU (float32/float64) this function calls it —
    numpy's introselect finds the k-th largest value in O(m): 0.7 ms for 1M float32 values,
    against 7.6 ms for ``torch.topk`` and 10 ms for ``torch.kthvalue`` on the same machine —
    and elsewhere it runs the same three steps with torch operations (threshold by
    ``torch.kthvalue``, everything above it, then the lowest-index ties).

    Examples
    --------
    >>> top_k_mask(torch.tensor([1.0, 3.0, 2.0, 3.0]), 2).tolist()
    [False, True, False, True]
    >>> top_k_mask(torch.tensor([1.0, 1.0, 1.0]), 2).tolist()
    [True, True, False]
    """
    if score.device.type == "cpu" and score.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(_top_k_mask_numpy(score.detach().numpy(), k))
    return _top_k_mask_torch(score, k)


def _top_k_mask_torch(score: torch.Tensor, k: int) -> torch.Tensor:
    """The steps of :func:`wiring._topk.top_k_mask`, with torch operations (any device/dtype)."""
    m = score.numel()
    if k <= 0:
        return torch.zeros(m, dtype=torch.bool, device=score.device)
    if k >= m:
        return torch.ones(m, dtype=torch.bool, device=score.device)
    threshold = torch.kthvalue(score, m - k + 1).values  # step 1: the k-th largest
    mask = score > threshold  # step 2
    missing = k - int(mask.sum())
    if missing:  # step 3: ties at the threshold, lowest indices first
        mask[torch.nonzero(score == threshold).squeeze(1)[:missing]] = True
    return mask


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return f"{type(x).__name__} {x!r}"


def _check_k(k: Any, m: int | None, name: str) -> None:
    span = f"[0, {m}]" if m is not None else ">= 0"
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"{name}: expected an int in {span}, found {type(k).__name__} {k!r}")
    if k < 0 or (m is not None and k > m):
        raise ValueError(f"{name}: expected an int in {span} (the candidates), found {k}")


#: Selection rules by name; extend with :func:`register_selection`.
SELECTIONS: dict[str, type[Selection]] = {}


def register_selection(name: str) -> Callable[[type[Selection]], type[Selection]]:
    """Class decorator adding a :class:`Selection` subclass to :data:`SELECTIONS` as ``name``.

    The class is built as ``cls(k=k, real=real, groups=groups)`` (see :class:`Selection`).

    Examples
    --------
    >>> @register_selection("smallest-k")
    ... class SmallestK(Selection):
    ...     def __init__(self, *, k, real=None, groups=None):
    ...         super().__init__()
    ...         self.k = k
    ...
    ...     def mask(self, weight):
    ...         return top_k_mask(-weight.abs().reshape(-1), self.k).view(weight.shape)
    >>> "smallest-k" in SELECTIONS
    True
    >>> del SELECTIONS["smallest-k"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty str, found {name!r}")

    def deco(cls: type[Selection]) -> type[Selection]:
        if not (isinstance(cls, type) and issubclass(cls, Selection)):
            raise TypeError(
                f"register_selection({name!r}): expected a Selection subclass, found {cls!r}"
            )
        cls.name = name
        SELECTIONS[name] = cls
        return cls

    return deco


register_selection("dnw")(TopK)
register_selection("dnw-no-update")(TopKNoUpdate)
register_selection("fixed")(FixedMask)


def make_selection(
    spec: str | Selection,
    *,
    weight: torch.Tensor,
    k: int | Mapping[int, int] | None,
    real: torch.Tensor,
    groups: torch.Tensor | None = None,
    argument: str = "selection",
) -> Selection:
    """The rule for one site: a registered name built for it, or a :class:`Selection` as given.

    The one place where selection names are checked (``compile``'s ``selection`` and
    ``sparsify``'s ``rule``).

    Parameters
    ----------
    spec : str or Selection
        A name in :data:`SELECTIONS` or an instance.
    weight : Tensor
        The site's weight; the rule's mask must have its shape.
    k : int, mapping or None
        Number of real positions (None: ``real.sum()``).
    real : Tensor of bool
        Initial real mask, weight-shaped.
    groups : Tensor of int, optional
        Group of every position (a compiled graph's destination blocks).
    argument : str
        The caller's argument name, used in error messages.

    Raises
    ------
    ValueError
        An unknown name (the message lists the registered ones), or a rule whose mask does not
        fit the weight.
    TypeError
        ``spec`` is neither a str nor a Selection.
    """
    if isinstance(spec, Selection):
        rule = spec
    elif isinstance(spec, str):
        if spec not in SELECTIONS:
            raise ValueError(
                f"{argument}: expected one of {sorted(SELECTIONS)} or a Selection instance, "
                f"found {spec!r}"
            )
        rule = SELECTIONS[spec](k=int(real.sum()) if k is None else k, real=real, groups=groups)
    else:
        raise TypeError(
            f"{argument}: expected a selection name (one of {sorted(SELECTIONS)}) or a "
            f"Selection instance, found {type(spec).__name__}"
        )
    rule = rule.to(weight.device)
    with torch.no_grad():
        mask = rule.mask(weight.detach())
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != weight.shape:
        raise ValueError(
            f"{argument}: the rule {type(rule).__name__}'s mask must be a bool tensor of the "
            f"weight's shape {tuple(weight.shape)}; found {_describe(mask)}"
        )
    return rule
