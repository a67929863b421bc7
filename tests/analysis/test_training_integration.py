"""End to end: wiring.train records summary(model.graph()) each epoch; analyze plots it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wiring.analysis import GraphMetricsCallback, analyze, summary

torch = pytest.importorskip("torch")


def test_trainer_records_graph_measures_and_analyze_reads_them(tmp_path: Path) -> None:
    import wiring
    from wiring import generators
    from wiring.data import Dataset
    from wiring.graph import NeuralGraph
    from wiring.train import TrainConfig, train

    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(3, 6, generator=g)
    y = torch.arange(128) % 3
    x = centres[y] + torch.randn(128, 6, generator=g)
    data = Dataset("blobs", x[:96], y[:96], x[96:], y[96:], num_classes=3)
    graph = generators.complete_dag([6, 10, 10, 3], seed=0)
    model = wiring.compile(graph, dynamics="static", spatial_dims=0, k=60)
    run = tmp_path / "run"
    history = train(
        model,
        data,
        TrainConfig(epochs=3, batch_size=32, lr=0.05, progress=False),
        run_dir=run,
        callbacks=[GraphMetricsCallback(every=2)],
    )
    assert [("graph" in h) for h in history] == [True, False, True]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[2]["graph"] == pytest.approx(summary(NeuralGraph.load(run / "graph.npz")))
    out = analyze(run, progress=False)
    assert (out / "training.png").is_file()
    assert [r["epoch"] for r in json.loads((out / "metrics.json").read_text())["training"]] == [
        0,
        2,
    ]
