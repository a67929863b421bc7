"""Models built around a wiring: shared parts and one module per model family.

=====================  ===========================================================================
:mod:`.parts`          :func:`stem`, :class:`CenterPoolHead`, :class:`GraphClassifier` (stem →
                       compiled graph → head) and :func:`parameter_counts`
:mod:`.tiny`           the DNW paper's tiny classifier: :func:`tiny_classifier`,
                       :func:`tiny_classifier_graph`, :class:`TinyClassifierSizes` (an option
                       object of :mod:`wiring.options`)
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
from wiring.models.parts import CenterPoolHead, GraphClassifier, parameter_counts, stem
from wiring.models.tiny import TinyClassifierSizes, tiny_classifier, tiny_classifier_graph

__all__ = [
    "CenterPoolHead",
    "GraphClassifier",
    "MobileNetV1",
    "MobileNetV1DNW",
    "TinyClassifierSizes",
    "chain_graphs",
    "mobilenet_v1",
    "mobilenet_v1_dnw",
    "mobilenet_v1_edge_budgets",
    "mobilenet_v1_stages",
    "parameter_counts",
    "stem",
    "tiny_classifier",
    "tiny_classifier_graph",
]
