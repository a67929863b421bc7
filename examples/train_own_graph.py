"""Train a wiring of your own from Python: build a graph, wrap it, train it, read the learned wiring.

Run from the repository root (a few seconds on two cores)::

    python examples/train_own_graph.py --out runs/own_graph

The same experiment from a config file is ``wiring train examples/configs/static_mnist1d.toml``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from wiring import NeuralGraph, generators
from wiring.data import mnist1d
from wiring.models import GraphClassifier
from wiring.train import TrainConfig, train


def my_graph(seed: int = 0) -> NeuralGraph:
    """A complete DAG over four blocks: 16 input nodes, two hidden blocks of 48, 16 output nodes.

    Any NeuralGraph works: a networkx DiGraph via ``NeuralGraph.from_networkx``, or raw arrays
    ``NeuralGraph(src, dst, weight, num_nodes=..., blocks=..., inputs=..., outputs=...)``.
    """
    graph = generators.complete_dag([16, 48, 48, 16], seed=seed)
    # Start the candidate weights small (the DNW authors' scale); only their ranking picks edges.
    return graph.with_weights(graph.weight / np.sqrt(graph.num_nodes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="run directory (default: keep nothing)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--k", type=int, default=1500, help="number of real edges")
    args = parser.parse_args()

    torch.manual_seed(0)
    data = mnist1d()  # x: (4000, 1, 40), generated offline
    graph = my_graph()
    print(graph)

    # Stem (strided convolutions into the 16 input nodes) -> compiled graph -> pooled linear head.
    model = GraphClassifier.from_graph(
        graph,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        spatial_dims=data.spatial_dims,  # 1: every node holds a 1-D signal
        dynamics="static",
        selection="dnw",  # learn which k edges are real (Discovering Neural Wirings)
        k=args.k,
        norm="instance",
    )
    print("parameters:", model.parameter_counts())

    config = TrainConfig(epochs=args.epochs, optimizer="adam", lr=0.01, weight_decay=0.0)
    history = train(model, data, config, run_dir=args.out, seed=0)
    print(f"test accuracy after {len(history)} epochs: {history[-1]['test_accuracy']:.3f}")

    learned = model.graph()  # the learned wiring, a NeuralGraph
    effective = int(learned.effective_edges().sum())
    print(f"learned wiring: {learned.num_edges} edges, {effective} on an input->output path")
    if args.out:
        print(f"saved in {args.out}; try: wiring info {args.out}/graph.npz")


if __name__ == "__main__":
    main()
