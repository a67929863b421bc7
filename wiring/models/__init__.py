"""Models built around a wiring: shared parts and one module per model family.

=====================  ===========================================================================
:mod:`.parts`          :func:`stem`, :class:`CenterPoolHead`, :class:`GraphClassifier` (stem →
                       compiled graph → head) and :func:`parameter_counts`
:mod:`.tiny`           the DNW paper's tiny classifier: :func:`tiny_classifier`,
                       :func:`tiny_classifier_graph`, :class:`TinyClassifierSizes` (an option
                       object of :mod:`wiring.options`), the registry of formulations
                       (:data:`FORMULATIONS`)
:mod:`.original`       the authors' formulation (``formulation="original"``): their head
                       :class:`OriginalPoolHead` and :func:`load_original_state_dict`
:mod:`.mobilenet`      MobileNetV1 and MobileNetV1-DNW (DNW sec. 2.4): :func:`mobilenet_v1`,
                       :func:`mobilenet_v1_dnw`, :func:`mobilenet_v1_edge_budgets`,
                       :func:`mobilenet_v1_stages`, :func:`chain_graphs`
=====================  ===========================================================================

Every public name is importable from ``wiring.models``.
"""

from __future__ import annotations

from wiring.models.mobilenet import (
    MobileNetV1,
    MobileNetV1DNW,
    chain_graphs,
    mobilenet_v1,
    mobilenet_v1_dnw,
    mobilenet_v1_edge_budgets,
    mobilenet_v1_stages,
)
from wiring.models.original import (  # registers the "original" formulation
    OriginalPoolHead,
    load_original_state_dict,
    original_graph,
)
from wiring.models.parts import CenterPoolHead, GraphClassifier, parameter_counts, stem
from wiring.models.tiny import (
    FORMULATIONS,
    Formulation,
    TinyClassifierSizes,
    register_formulation,
    tiny_classifier,
    tiny_classifier_graph,
)

__all__ = [
    "FORMULATIONS",
    "CenterPoolHead",
    "Formulation",
    "GraphClassifier",
    "MobileNetV1",
    "MobileNetV1DNW",
    "OriginalPoolHead",
    "TinyClassifierSizes",
    "chain_graphs",
    "load_original_state_dict",
    "mobilenet_v1",
    "mobilenet_v1_dnw",
    "mobilenet_v1_edge_budgets",
    "mobilenet_v1_stages",
    "original_graph",
    "parameter_counts",
    "register_formulation",
    "stem",
    "tiny_classifier",
    "tiny_classifier_graph",
]
