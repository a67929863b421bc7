"""Compile a NeuralGraph to a PyTorch module."""
