"""Spectral measures of a wiring (compatibility module).

The code lives in three modules split along their seams: :mod:`.heat` (Laplacian, heat kernel,
heat signatures, signature distance), :mod:`.spectra` (scree, saturation time, algebraic
connectivity) and the private numerical back end :mod:`._numerics` (input checks, eigensolvers,
the action of the heat kernel, stochastic Lanczos quadrature). This module re-exports the public
names so that ``wiring.analysis.spectral.<name>`` keeps working.
"""

from __future__ import annotations

from ._numerics import DENSE_MAX_NODES, HEAT_KERNEL_MAX_NODES
from .heat import heat_kernel, heat_signature, laplacian, signature_distance
from .spectra import algebraic_connectivity, saturation_time, scree

__all__ = [
    "DENSE_MAX_NODES",
    "HEAT_KERNEL_MAX_NODES",
    "algebraic_connectivity",
    "heat_kernel",
    "heat_signature",
    "laplacian",
    "saturation_time",
    "scree",
    "signature_distance",
]
