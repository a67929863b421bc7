"""analyze(): figures, metrics.json and a self-contained report.html."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from wiring import generators
from wiring.analysis import GraphMetricsCallback, analyze, summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def graphs() -> tuple:
    ref = generators.complete_dag([8, 16, 16, 4], seed=0)
    return ref, generators.random_k(ref, 120, seed=1)


def _check_report(out: Path, figures: set[str]) -> dict:
    for name in figures:
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
    page = (out / "report.html").read_text(encoding="utf-8")
    embedded = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(embedded) == len(figures)
    assert all(base64.b64decode(b).startswith(PNG_MAGIC) for b in embedded)
    assert "src='http" not in page and 'src="http' not in page  # self-contained
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def test_analyze_file_with_reference(tmp_path: Path, graphs: tuple) -> None:
    ref, g = graphs
    ref.save(tmp_path / "ref.npz")
    g.save(tmp_path / "pruned.npz")
    out = analyze(tmp_path / "pruned.npz", reference=tmp_path / "ref.npz", progress=False)
    assert out == tmp_path / "pruned-analysis"
    metrics = _check_report(
        out,
        {
            "adjacency.png",
            "reference_adjacency.png",
            "degrees.png",
            "heat_signature.png",
            "scree.png",
        },
    )
    assert metrics["summary"] == pytest.approx(summary(g))
    assert metrics["reference_summary"] == pytest.approx(summary(ref))
    assert len(metrics["heat"]["signature_distance"]) == len(metrics["heat"]["distance_times"])
    assert len(metrics["scree"]["alpha"]) == len(metrics["scree"]["fractions"])
    assert not any("No reference" in note for note in metrics["notes"])
    assert metrics["graph"]["num_edges"] == 120


def test_analyze_without_reference_says_so(tmp_path: Path, graphs: tuple) -> None:
    _, g = graphs
    g.save(tmp_path / "g.npz")
    out = analyze(str(tmp_path / "g.npz"), out=tmp_path / "report", progress=False)
    assert out == tmp_path / "report"
    metrics = _check_report(
        out, {"adjacency.png", "degrees.png", "heat_signature.png", "scree.png"}
    )
    assert "reference_summary" not in metrics
    assert "No reference" in (out / "report.html").read_text(encoding="utf-8")


def test_analyze_run_directory_plots_training(tmp_path: Path, graphs: tuple) -> None:
    _, g = graphs
    run = tmp_path / "run"
    run.mkdir()
    g.save(run / "graph.npz")

    class Trainer:
        class model:  # mimics trainer.model
            @staticmethod
            def graph() -> object:
                return g

    cb = GraphMetricsCallback(every=1)
    lines = []
    for epoch in range(3):
        m = {"epoch": epoch, "loss": 1.0 / (epoch + 1)}
        cb.on_epoch_end(Trainer, epoch, m)
        lines.append(json.dumps(m))
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = analyze(run, progress=False)
    assert out == run / "analysis"
    metrics = _check_report(
        out, {"adjacency.png", "degrees.png", "heat_signature.png", "scree.png", "training.png"}
    )
    assert [r["epoch"] for r in metrics["training"]] == [0, 1, 2]


def test_analyze_errors(tmp_path: Path, graphs: tuple) -> None:
    with pytest.raises(FileNotFoundError, match="target"):
        analyze(tmp_path / "missing.npz", progress=False)
    with pytest.raises(FileNotFoundError, match=r"graph\.npz"):
        analyze(tmp_path, progress=False)
    (tmp_path / "x.txt").write_text("no")
    with pytest.raises(ValueError, match=r"\.npz"):
        analyze(tmp_path / "x.txt", progress=False)
    with pytest.raises(ValueError, match="out"):
        analyze(graphs[1], progress=False)
