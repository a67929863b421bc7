"""Connectivity analysis of wirings (imported as ``wiring.analysis``)."""
