"""GraphMetricsCallback records summary(model.graph()) into the epoch's metrics."""

from __future__ import annotations

import json
import time

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


def test_summary_is_fast_for_a_few_thousand_nodes() -> None:
    dag = generators.complete_dag([64, 512, 1024, 1024, 512, 64], seed=0)
    g = generators.random_k(dag, 40_000, seed=1)
    metrics: dict = {}
    start = time.perf_counter()
    GraphMetricsCallback().on_epoch_end(_Trainer(g), 0, metrics)
    elapsed = time.perf_counter() - start
    assert metrics["graph"]["average_shortest_path_length_samples"] == 3200  # exact: <= 5,000 nodes

    assert elapsed < 10.0  # about 1 s on one core; generous for a shared machine


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="every"):
        GraphMetricsCallback(every=0)
    with pytest.raises(TypeError, match="trainer"):
        GraphMetricsCallback().on_epoch_end(object(), 0, {})
