"""Models built around a wiring: shared parts and one module per model family.

=====================  ===========================================================================
:mod:`.parts`          :func:`stem`, :class:`CenterPoolHead`, :class:`GraphClassifier` (stem →
                       compiled graph → head) and :func:`parameter_counts`
:mod:`.tiny`           the DNW paper's tiny classifier: :func:`tiny_classifier`,
                       :func:`tiny_classifier_graph`, :class:`TinyClassifierSizes`
=====================  ===========================================================================

Every public name is importable from ``wiring.models``.
"""

from __future__ import annotations

from wiring.models.parts import CenterPoolHead, GraphClassifier, parameter_counts, stem
from wiring.models.tiny import TinyClassifierSizes, tiny_classifier, tiny_classifier_graph

__all__ = [
    "CenterPoolHead",
    "GraphClassifier",
    "TinyClassifierSizes",
    "parameter_counts",
    "stem",
    "tiny_classifier",
    "tiny_classifier_graph",
]
