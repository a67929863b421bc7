"""Evolving wirings: rules that change the masks of sparse sites during training, and pruning.

Every rule works on any site (:mod:`wiring.nn.sites`): a compiled graph's ``model.weight`` or a
layer made sparse with :func:`wiring.sparsify`. Each is an object with ``step(model, step) ->
bool`` (True when a mask changed) and ``state_dict()`` / ``load_state_dict()``, usable in your own
loop or as a callback of ``wiring.train.train(..., callbacks=[rule])``, and registered by name in
:data:`RULES` (``make_rule("rigl", every=50)`` builds one from a config section).

=========================  =====================================================================
``"rigl"``                 :class:`RigL` — drop smallest :math:`|w|`, grow largest gradient
``"set"``                  :class:`SET` — drop smallest :math:`|w|`, grow at random
``"adaptive"``             :class:`AdaptiveSparsity` — stochastic prune/grow (adaptive sparsity)
``"adaptive-deterministic"`` :meth:`AdaptiveSparsity.deterministic` — its constant-count setting
``"magnitude"``            :class:`MagnitudePruning` — gradual pruning, Zhu & Gupta's cubic schedule
``"l1-anneal"``            :class:`L1Anneal` — L1 term while pruning by magnitude (DNW Table 2)
``"targeted-dropout"``     :class:`TargetedDropout` — targeted weight dropout, then pruning
=========================  =====================================================================

One-shot: :func:`prune_magnitude` (Han et al.), :func:`lottery_ticket`. Baselines:
:func:`channelwise_sparse`, :func:`wide_dense_width`, :func:`count_real_parameters`. The pure
update functions are in :mod:`wiring.evolve.functional`.

Examples
--------
>>> import torch, wiring
>>> from torch import nn
>>> from wiring.evolve import RigL, reset_optimizer_state
>>> model = wiring.sparsify(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)), 0.25)
>>> rule = RigL(every=5, total_steps=20)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> for step in range(20):
...     opt.zero_grad()
...     model(torch.randn(32, 8)).pow(2).mean().backward()
...     if rule.step(model, step):
...         reset_optimizer_state(opt, model)
...     opt.step()
>>> [s.num_real for s in wiring.sites(model)], rule.updates
([32, 8], 2)
"""

from __future__ import annotations

from wiring.evolve.base import RULES, Rule, make_rule, register_rule, rule_parameters
from wiring.evolve.baselines import channelwise_sparse, count_real_parameters, wide_dense_width
from wiring.evolve.dst import SET, AdaptiveSparsity, RigL
from wiring.evolve.pruning import (
    L1Anneal,
    MagnitudePruning,
    TargetedDropout,
    lottery_ticket,
    prune_magnitude,
)
from wiring.nn.sites import reset_optimizer_state

__all__ = [
    "RULES",
    "SET",
    "AdaptiveSparsity",
    "L1Anneal",
    "MagnitudePruning",
    "RigL",
    "Rule",
    "TargetedDropout",
    "channelwise_sparse",
    "count_real_parameters",
    "lottery_ticket",
    "make_rule",
    "prune_magnitude",
    "register_rule",
    "reset_optimizer_state",
    "rule_parameters",
    "wide_dense_width",
]
