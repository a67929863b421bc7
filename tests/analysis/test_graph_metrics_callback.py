"""GraphMetricsCallback records summary(model.graph()) into the epoch's metrics."""

from __future__ import annotations

import json
import tracemalloc

import networkx as nx
import pytest

from wiring import generators
from wiring.analysis import GraphMetricsCallback, summary


class _Model:
    def __init__(self, graph: object) -> None:
        self._graph = graph

    def graph(self) -> object:
        return self._graph


class _Trainer:
    def __init__(self, graph: object) -> None:
        self.model = _Model(graph)


def test_records_every_n_epochs_from_epoch_zero() -> None:
    g = nx.powerlaw_cluster_graph(50, 3, 0.3, seed=0)
    trainer = _Trainer(g)
    cb = GraphMetricsCallback(every=2)
    cb.on_train_start(trainer)
    cb.on_step_end(trainer, 0, 1.0)
    recorded = []
    for epoch in range(5):
        metrics = {"epoch": epoch, "loss": 0.5}
        cb.on_epoch_end(trainer, epoch, metrics)
        if "graph" in metrics:
            recorded.append(epoch)
            assert metrics["graph"] == pytest.approx(summary(g))
            json.dumps(metrics, allow_nan=False)
    cb.on_train_end(trainer)
    assert recorded == [0, 2, 4]


def test_summary_of_a_few_thousand_nodes_stays_sparse(monkeypatch: pytest.MonkeyPatch) -> None:
    # What keeps this fast (about 0.1 s) is deterministic, so that is what is tested instead of a
    # wall-clock time: no dense eigensolver runs and no dense (n, n) array is ever allocated.
    import scipy.linalg

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("summary used a dense eigensolver")

    for name in ("eigh", "eigvalsh"):
        monkeypatch.setattr(scipy.linalg, name, refuse)
    dag = generators.complete_dag([64, 512, 1024, 1024, 512, 64], seed=0)
    g = generators.random_k(dag, 40_000, seed=1)
    n = g.num_nodes
    metrics: dict = {}
    tracemalloc.start()
    try:
        GraphMetricsCallback().on_epoch_end(_Trainer(g), 0, metrics)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert metrics["graph"]["average_shortest_path_length_samples"] == n  # exact: <= 5,000 nodes
    assert (
        peak < 8 * n * n / 4
    )  # a dense float64 (n, n) matrix alone would be 4x this; the peak is ~10 MB


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="every"):
        GraphMetricsCallback(every=0)
    with pytest.raises(TypeError, match="trainer"):
        GraphMetricsCallback().on_epoch_end(object(), 0, {})
