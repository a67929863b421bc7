"""Option objects: frozen dataclasses whose constraints are declared once and checked by one validator.

An option object subclasses :class:`Options` and is a frozen dataclass. Each field declares its
type in its annotation and its constraints with :func:`option` (a range, a set of choices); the one
validator, :func:`check`, runs on every field when the object is built (``Options.__post_init__``),
and the same constraints describe the keys of the TOML configs (:func:`from_mapping`, used by
:mod:`wiring.config`). Nothing else lists the fields, their defaults or their ranges.

=============================  ====================================================================
:class:`TrainConfig`           how to train (re-exported by :mod:`wiring.train`)
:class:`TinyClassifierSizes`   the tiny classifier's sizes and solver settings (re-exported by
                               :mod:`wiring.models`)
=============================  ====================================================================

Field types: ``bool``, ``int``, ``float`` (finite), ``str``, another option class (a nested table)
and ``T | None`` for an optional field, whose default is None. TOML has no null: a missing key
means None, and :func:`wiring._io.dump_toml` leaves None values out.

Three lists of valid values belong to other rooms and are read from there when a value is checked,
never copied: the ODE solvers from torchdiffeq's solver table (:func:`ode_methods`), the
selection rules from the registry :data:`wiring.nn.selection.SELECTIONS`
(:func:`tiny_classifier_selections`) and the tiny classifier's formulations from the registry
:data:`wiring.models.tiny.FORMULATIONS` (:func:`tiny_classifier_formulations`). Importing this
module does not import torch; checking one of those three fields does.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Window(Options):
...     width: int = option(8, min=1)
...     step: float | None = option(None, min=0.0, min_exclusive=True)
...     mode: str = option("same", choices=("same", "valid"))
>>> Window(width=4, step=1).step   # an int is a valid float
1.0
>>> Window(width=0)
Traceback (most recent call last):
    ...
wiring.errors.ConfigError: width: expected an integer >= 1, found 0
>>> from_mapping(Window, {"mode": "full"}, prefix="window")
Traceback (most recent call last):
    ...
wiring.errors.ConfigError: window.mode: expected one of 'same', 'valid', found 'full'
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from wiring.errors import ConfigError

__all__ = [
    "ODE_METHOD",
    "TINY_DYNAMICS",
    "TINY_FORMULATION",
    "TINY_SELECTION",
    "Constraint",
    "Options",
    "TinyClassifierSizes",
    "TrainConfig",
    "check",
    "from_mapping",
    "ode_methods",
    "option",
    "tiny_classifier_formulations",
    "tiny_classifier_selections",
]

_UNSET: Any = object()


@dataclass(frozen=True)
class Constraint:
    """What a value must satisfy besides its type.

    Attributes
    ----------
    min, max : float, optional
        Bounds (inclusive unless ``min_exclusive`` / ``max_exclusive``).
    min_exclusive, max_exclusive : bool
        Make a bound strict.
    choices : sequence, or a callable returning one, optional
        The valid values. A callable is called each time a value is checked, so a registry that
        grows (e.g. :data:`wiring.nn.selection.SELECTIONS`) is read as it is then.
    none_was : object, optional
        An older TOML spelling of None for an optional field (e.g. ``0``); only
        :func:`from_mapping` reads it, the option objects themselves accept None only.
    """

    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None
    none_was: Any = _UNSET

    def valid_choices(self) -> Sequence[Any] | None:
        """The valid values now (``choices`` called if it is a callable), or None."""
        return self.choices() if callable(self.choices) else self.choices


def option(
    default: Any = dataclasses.MISSING,
    constraint: Constraint | None = None,
    *,
    default_factory: Any = dataclasses.MISSING,
    **constraints: Any,
) -> Any:
    """A dataclass field of an option object with its constraints (see :class:`Constraint`).

    Pass either a ready :class:`Constraint` (shared by several fields or functions) or its
    attributes as keywords: ``option(0.1, min=0.0, min_exclusive=True)``.
    """
    if constraint is None:
        constraint = Constraint(**constraints)
    elif constraints:
        constraint = dataclasses.replace(constraint, **constraints)
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"option": constraint}
    )


# ------------------------------------------------------------------------------------ the validator


def _split_optional(tp: Any) -> tuple[Any, bool]:
    """``T | None`` -> ``(T, True)``; ``T`` -> ``(T, False)``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0], True
        raise TypeError(f"unsupported option type {tp!r}: only T and T | None are")
    return tp, False


def _is_options_class(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Options)


_TYPE_NAMES = {bool: "a bool", int: "an integer", float: "a finite number", str: "a string"}


def _number(x: float) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


def _expectation(tp: Any, optional: bool, c: Constraint) -> str:
    choices = c.valid_choices()
    if choices is not None:
        text = "one of " + ", ".join(repr(v) for v in choices)
    elif _is_options_class(tp):
        text = f"an option object {tp.__name__}"
    else:
        text = _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))
        lo, hi = c.min, c.max
        if lo is not None and hi is not None:
            left = "(" if c.min_exclusive else "["
            right = ")" if c.max_exclusive else "]"
            text += f" in {left}{_number(lo)}, {_number(hi)}{right}"
        elif lo is not None:
            text += f" {'>' if c.min_exclusive else '>='} {_number(lo)}"
        elif hi is not None:
            text += f" {'<' if c.max_exclusive else '<='} {_number(hi)}"
    return text + (" or None" if optional else "")


def _found(value: Any, right_type: bool) -> str:
    if isinstance(value, Mapping):
        return "a table"
    return repr(value) if right_type else f"{value!r} ({type(value).__name__})"


def _coerce(tp: Any, value: Any) -> tuple[bool, Any]:
    """``(is of type tp, the value as tp)``: an int is a valid float, a numpy integer an int."""
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return ok, int(value) if ok else value
    if tp is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    if _is_options_class(tp):
        return isinstance(value, tp), value
    raise TypeError(f"unsupported option type {tp!r}")


def check(name: str, value: Any, tp: Any, constraint: Constraint | None = None) -> Any:
    """The one validator: ``value`` as an option of type ``tp`` named ``name``, or a ConfigError.

    Parameters
    ----------
    name : str
        Named first in the error message (a field, an argument, or a dotted TOML key).
    value : object
        The value to check.
    tp : type
        ``bool``, ``int``, ``float``, ``str``, an :class:`Options` subclass, or ``T | None``.
    constraint : Constraint, optional
        Range and choices.

    Returns
    -------
    object
        The value, converted to ``tp`` where that loses nothing (an int as a float, a numpy
        integer as an int).

    Raises
    ------
    ConfigError
        ``"<name>: expected <type and constraint>, found <value>"``.

    Examples
    --------
    >>> check("lr", 1, float, Constraint(min=0.0, min_exclusive=True))
    1.0
    >>> check("momentum", 1.0, float, Constraint(min=0.0, max=1.0, max_exclusive=True))
    Traceback (most recent call last):
        ...
    wiring.errors.ConfigError: momentum: expected a finite number in [0, 1), found 1.0
    """
    c = constraint if constraint is not None else Constraint()
    base, optional = _split_optional(tp)
    if value is None and optional:
        return None
    ok, value = _coerce(base, value)
    if not ok or (base is float and not math.isfinite(value)):
        raise ConfigError(
            f"{name}: expected {_expectation(base, optional, c)}, found {_found(value, ok)}"
        )
    choices = c.valid_choices()
    in_range = True
    if choices is not None:
        in_range = value in choices
    else:
        if c.min is not None:
            in_range &= value > c.min if c.min_exclusive else value >= c.min
        if c.max is not None:
            in_range &= value < c.max if c.max_exclusive else value <= c.max
    if not in_range:
        raise ConfigError(f"{name}: expected {_expectation(base, optional, c)}, found {value!r}")
    return value


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any, Constraint], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name], f.metadata.get("option", Constraint()))
        for f in dataclasses.fields(cls)
    )


class Options:
    """Base class of option objects (frozen dataclasses; see the module docstring).

    Building one checks every field with :func:`check`, then :meth:`cross_check` (constraints between
    fields, which a subclass extends; its messages start with the field they blame).
    """

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def __post_init__(self) -> None:
        for name, tp, constraint in _fields(type(self)):
            value = getattr(self, name)
            checked = check(name, value, tp, constraint)
            if checked is not value:
                object.__setattr__(self, name, checked)
        self.cross_check()

    def cross_check(self) -> None:
        """Constraints between fields (none here)."""


def from_mapping(cls: type, mapping: Any, *, prefix: str = "") -> Any:
    """Build the option object ``cls`` from a (TOML) mapping; errors name the dotted key.

    A missing key takes the field's default (None for an optional field); a nested option class is
    read from a sub-table; an unknown key is refused; a field's older spelling of None
    (``Constraint.none_was``) is read as None.

    Parameters
    ----------
    cls : type
        An :class:`Options` subclass.
    mapping : Mapping[str, Any]
        As parsed by :mod:`tomllib`.
    prefix : str
        Dotted key of ``mapping`` itself (``""`` at the top level).

    Raises
    ------
    ConfigError
        Whose message starts with the dotted key, e.g. ``train.epochs: expected ...``.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a table, found {_found(mapping, False)}")
    fields = {name: (tp, c) for name, tp, c in _fields(cls)}
    dotted = f"{prefix}." if prefix else ""
    for key in mapping:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{dotted}{key}: unknown key; expected one of {known}")
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        tp, c = fields[key]
        base, optional = _split_optional(tp)
        if _is_options_class(base):
            value = from_mapping(base, value, prefix=f"{dotted}{key}")
        elif (
            optional
            and c.none_was is not _UNSET
            and not isinstance(value, bool)
            and type(value) in (type(c.none_was), int, float)
            and value == c.none_was
        ):
            value = None
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError as err:
        if not prefix:
            raise
        raise ConfigError(f"{prefix}.{err}") from None


# ------------------------------------------------------------------ lists owned by other rooms


def ode_methods() -> tuple[str, ...]:
    """The names of torchdiffeq's ODE solvers, read from its solver table now (imports torch).

    >>> {"dopri5", "rk4", "heun2", "fixed_adams", "scipy_solver"} <= set(ode_methods())
    True
    """
    # torchdiffeq re-exports a function named `odeint` over its module, so import the module.
    return tuple(sorted(importlib.import_module("torchdiffeq._impl.odeint").SOLVERS))


def tiny_classifier_selections() -> tuple[str, ...]:
    """The tiny classifier's ``selection`` names: the registered rules and ``"random"``.

    Every rule of :data:`wiring.nn.selection.SELECTIONS` (read now, so a rule added with
    ``register_selection`` is valid too) except ``"fixed"``, which the tiny classifier uses for
    its random-graph baseline ``"random"`` (k edges drawn uniformly, then kept fixed).

    >>> {"dnw", "dnw-no-update", "random"} <= set(tiny_classifier_selections())
    True
    """
    from wiring.nn.selection import SELECTIONS

    return (*(name for name in SELECTIONS if name != "fixed"), "random")


def tiny_classifier_formulations() -> tuple[str, ...]:
    """The tiny classifier's ``formulation`` names: the entries of its formulation registry.

    :data:`wiring.models.tiny.FORMULATIONS`, read now (so a formulation added with
    :func:`wiring.models.register_formulation` is valid too): ``"paper"``, the equations as the
    DNW paper writes them, and ``"original"``, the computation of the authors' released code.

    >>> {"paper", "original"} <= set(tiny_classifier_formulations())
    True
    """
    from wiring.models.tiny import FORMULATIONS

    return tuple(FORMULATIONS)


#: Constraint of an ODE solver name (``compile``'s ``method`` and the tiny classifier's).
ODE_METHOD = Constraint(choices=ode_methods)
#: Constraint of the tiny classifier's ``dynamics`` (its graph is a DAG or a complete digraph).
TINY_DYNAMICS = Constraint(choices=("static", "discrete", "continuous"))
#: Constraint of the tiny classifier's ``selection``.
TINY_SELECTION = Constraint(choices=tiny_classifier_selections)
#: Constraint of the tiny classifier's ``formulation`` (its formulation registry).
TINY_FORMULATION = Constraint(choices=tiny_classifier_formulations)


# ------------------------------------------------------------------------------------ TrainConfig


@dataclass(frozen=True)
class TrainConfig(Options):
    """How to train: optimiser, schedule, epochs.

    The defaults follow the recipe of the DNW paper (Wortsman et al., 2019): SGD with momentum 0.9
    and weight decay, the learning rate annealed along a cosine over all optimizer steps,

    .. math:: \\eta_t = \\tfrac{1}{2} \\eta_0 \\left(1 + \\cos \\frac{\\pi t}{T}\\right),
        \\quad t = 0, \\dots, T = \\text{epochs} \\times \\text{steps per epoch}.

    Parameters
    ----------
    epochs : int
        Passes over the training set (at least 1).
    batch_size : int
        Examples per optimizer step.
    optimizer : {"sgd", "adam"}
        ``torch.optim.SGD`` (with ``momentum``, ``nesterov``) or ``torch.optim.Adam``.
    lr : float
        Initial learning rate :math:`\\eta_0` (> 0).
    momentum : float
        SGD momentum in [0, 1) (ignored by Adam).
    weight_decay : float
        L2 penalty (>= 0), passed to the optimizer.
    nesterov : bool
        Nesterov momentum (SGD with ``momentum > 0`` only).
    scheduler : {"cosine", "none"}
        Cosine annealing to 0 over all steps, or a constant learning rate.
    label_smoothing : float
        Label smoothing of the cross-entropy loss, in [0, 1).
    progress : bool
        Show a tqdm progress bar.

    Raises
    ------
    ConfigError
        A ``ValueError`` for a value of the wrong type or out of range; the message names the
        field.

    References
    ----------
    M. Wortsman, A. Farhadi and M. Rastegari, "Discovering Neural Wirings", NeurIPS 2019.
    I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Examples
    --------
    >>> TrainConfig(epochs=2).lr
    0.1
    >>> TrainConfig(lr=-1.0)
    Traceback (most recent call last):
    ...
    wiring.errors.ConfigError: lr: expected a finite number > 0, found -1.0
    """

    epochs: int = option(10, min=1)
    batch_size: int = option(128, min=1)
    optimizer: str = option("sgd", choices=("sgd", "adam"))
    lr: float = option(0.1, min=0.0, min_exclusive=True)
    momentum: float = option(0.9, min=0.0, max=1.0, max_exclusive=True)
    weight_decay: float = option(5e-4, min=0.0)
    nesterov: bool = False
    scheduler: str = option("cosine", choices=("cosine", "none"))
    label_smoothing: float = option(0.0, min=0.0, max=1.0, max_exclusive=True)
    progress: bool = True

    def cross_check(self) -> None:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError(
                "nesterov: needs optimizer='sgd' with momentum > 0, found "
                f"optimizer={self.optimizer!r}, momentum={self.momentum!r}"
            )


# ---------------------------------------------------------------------------- the tiny classifier


@dataclass(frozen=True)
class TinyClassifierSizes(Options):
    """The sizes and solver settings of :func:`wiring.models.tiny_classifier`.

    Each field is an override keyword of ``tiny_classifier``. Defaults are the DNW paper's tiny
    classifier (section 3.1 and the authors' configs).

    Attributes
    ----------
    num_nodes : int
        Nodes of the graph (800).
    num_inputs : int
        Input nodes, the first ``num_inputs`` nodes, fed by the stem (32).
    num_outputs : int
        Output nodes, the last ``num_outputs`` nodes, read by the head (100).
    block_size : int
        Static only: the nodes between inputs and outputs are cut into blocks of this size, the last
        one taking the remainder (192: blocks 32 | 192 192 192 92 | 100).
    k : int
        Real edges (32,000 = 5% of 800²); at most :meth:`num_candidates`.
    steps : int
        Discrete time steps (5).
    t1 : float
        Continuous: integrate from 0 to ``t1`` (1.0).
    method, rtol, atol : str, float, float
        Continuous: a torchdiffeq solver (:func:`ode_methods`) and its tolerances (``"dopri5"``,
        1e-3, 1e-3).
    adjoint : bool
        Continuous: backpropagate with the adjoint method (False: through the solver).
    step_size : float or None
        Continuous, fixed-step methods (``"rk4"``, ``"euler"``, ...): the step (None: one step from
        0 to ``t1``).
    stem_stride : {4, 2, 1}
        Downsampling of the stem (4).
    norm : {"instance", "batch", "none"}
        Normalisation of the node operation (instance; batch for scalar states, ``spatial_dims=0``,
        which have no instance statistics).
    graph_seed : int
        Seed of the random-graph baseline's edge choice.
    pool_window : int or None
        Width of the head's pooled centre (None: ``ceil(size / 4)``).
    weight_scale : float or None
        Candidate edge weights start uniform in ``(-weight_scale, weight_scale)``; None:
        ``1 / sqrt(num_nodes)``, the authors' initialisation (PyTorch's default for their
        ``num_nodes × num_nodes`` 1×1 convolution).

    Examples
    --------
    >>> TinyClassifierSizes(num_nodes=100, num_inputs=60, num_outputs=50)
    Traceback (most recent call last):
        ...
    wiring.errors.ConfigError: num_nodes: expected at least num_inputs + num_outputs = 110, found 100
    """

    num_nodes: int = option(800, min=2)
    num_inputs: int = option(32, min=1)
    num_outputs: int = option(100, min=1)
    block_size: int = option(192, min=1)
    k: int = option(32_000, min=1)
    steps: int = option(5, min=1)
    t1: float = option(1.0, min=0.0, min_exclusive=True)
    method: str = option("dopri5", ODE_METHOD)
    rtol: float = option(1e-3, min=0.0, min_exclusive=True)
    atol: float = option(1e-3, min=0.0, min_exclusive=True)
    adjoint: bool = False
    step_size: float | None = option(None, min=0.0, min_exclusive=True, none_was=0)
    stem_stride: int = option(4, choices=(1, 2, 4))
    norm: str = option("instance", choices=("instance", "batch", "none"))
    graph_seed: int = option(0, min=0)
    pool_window: int | None = option(None, min=1, none_was=0)
    weight_scale: float | None = option(None, min=0.0, min_exclusive=True, none_was=0)

    def cross_check(self) -> None:
        if self.num_inputs + self.num_outputs > self.num_nodes:
            raise ConfigError(
                f"num_nodes: expected at least num_inputs + num_outputs = "
                f"{self.num_inputs + self.num_outputs}, found {self.num_nodes}"
            )

    def static_blocks(self) -> list[int]:
        """Block sizes of the static graph: inputs, hidden blocks of ``block_size``, outputs.

        >>> TinyClassifierSizes().static_blocks()
        [32, 192, 192, 192, 92, 100]
        """
        hidden = self.num_nodes - self.num_inputs - self.num_outputs
        sizes = [self.num_inputs] + [self.block_size] * (hidden // self.block_size)
        if hidden % self.block_size:
            sizes.append(hidden % self.block_size)
        return [*sizes, self.num_outputs]

    def num_candidates(self, dynamics: str, formulation: str = "paper") -> int:
        """Candidate edges of the tiny classifier's graph for ``dynamics`` in ``formulation``.

        Each entry of the formulation registry (:func:`tiny_classifier_formulations`) counts the
        candidates of its own graph (:attr:`wiring.models.Formulation.num_candidates`). The
        paper's (``"paper"``) static graph has every pair in different blocks of
        :meth:`static_blocks`, one direction (into the later block); its dynamic graphs are the
        complete digraph without self-loops:

        .. math:: m_{\\text{static}} = \\tfrac{1}{2} \\Bigl(n^2 - \\sum_b s_b^2\\Bigr),
            \\qquad m_{\\text{dynamic}} = n (n - 1).

        The authors' code (``"original"``) adds, in the static graph, the entries from the last of
        their blocks :math:`s_L` (:func:`wiring.models.original.original_blocks`) to the
        :math:`n_E` outputs inside it, self-loops included; its dynamic graphs are all
        :math:`n^2` entries of their matrix:

        .. math:: m_{\\text{static}} = \\tfrac{1}{2} \\Bigl(n^2 - \\sum_b s_b^2\\Bigr) + s_L\\, n_E,
            \\qquad m_{\\text{dynamic}} = n^2.

        Reads the formulation registry (imports torch).

        >>> s = TinyClassifierSizes()
        >>> s.num_candidates("static"), s.num_candidates("discrete")
        (254960, 639200)
        >>> s.num_candidates("static", "original"), s.num_candidates("discrete", "original")
        (264960, 640000)
        """
        dynamics = check("dynamics", dynamics, str, TINY_DYNAMICS)
        formulation = check("formulation", formulation, str, TINY_FORMULATION)
        from wiring.models.tiny import FORMULATIONS

        return FORMULATIONS[formulation].count(dynamics, self)

    def check_k(self, dynamics: str, formulation: str = "paper") -> None:
        """Raise a :class:`ConfigError` naming ``k`` when it exceeds :meth:`num_candidates`."""
        m = self.num_candidates(dynamics, formulation)
        if self.k > m:
            which = "" if formulation == "paper" else f" (formulation {formulation!r})"
            raise ConfigError(
                f"k: expected at most the {m} candidate edges of a {dynamics} graph{which} with "
                f"{self.num_nodes} nodes, found {self.k}"
            )
