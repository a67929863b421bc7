"""Connectivity analysis of wirings (imported as ``wiring.analysis``).

Pure functions of a graph — a :class:`wiring.graph.NeuralGraph`, a scipy sparse matrix or dense
numpy array (``A[u, v]`` = weight of ``u -> v``) or a networkx graph — built on numpy, scipy and
networkx only (matplotlib is imported inside the plotting functions). See ``docs/analysis.md``.
"""

from __future__ import annotations

from .callbacks import GraphMetricsCallback
from .heat import heat_kernel, heat_signature, laplacian, signature_distance
from .report import analyze
from .spectra import algebraic_connectivity, saturation_time, scree
from .structure import (
    average_clustering,
    average_shortest_path_length,
    clustering,
    degree_gini,
    graph_info,
    summary,
)

__all__ = [
    "GraphMetricsCallback",
    "algebraic_connectivity",
    "analyze",
    "average_clustering",
    "average_shortest_path_length",
    "clustering",
    "degree_gini",
    "graph_info",
    "heat_kernel",
    "heat_signature",
    "laplacian",
    "saturation_time",
    "scree",
    "signature_distance",
    "summary",
]
