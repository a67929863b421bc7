"""analyze(): figures, metrics.json and a self-contained report.html."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg as sla

from wiring import generators
from wiring.analysis import (
    GraphMetricsCallback,
    analyze,
    graph_info,
    summary,
)
from wiring.graph import NeuralGraph

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
    assert metrics["graph"] == graph_info(g)
    assert metrics["graph"]["edges"] == 120
    assert metrics["reference_graph"]["edges"] == ref.num_edges


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


# ---- the comparison report: values against independent computations ------------------------------


def _dense_sym_laplacian(ng) -> np.ndarray:
    """L = D - W with W = max(|A|, |A^T|), off-diagonal, built by hand from the edge arrays."""
    n = ng.num_nodes
    a = np.zeros((n, n))
    r = ng.real
    a[ng.src[r], ng.dst[r]] = np.abs(ng.weight[r])
    w = np.maximum(a, a.T)
    np.fill_diagonal(w, 0.0)
    return np.diag(w.sum(axis=1)) - w


def test_comparison_values_match_expm_and_eigvalsh(tmp_path: Path, graphs: tuple) -> None:
    ref, g = graphs
    out = analyze(g, reference=ref, out=tmp_path / "cmp", progress=False)
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    a = np.zeros(g.num_nodes)
    a[g.inputs] = 1.0
    lap_g, lap_r = _dense_sym_laplacian(g), _dense_sym_laplacian(ref)
    times = np.asarray(m["heat"]["distance_times"])
    f = [np.linalg.norm(sla.expm(-t * lap_r) @ a - sla.expm(-t * lap_g) @ a) for t in times]
    np.testing.assert_allclose(m["heat"]["signature_distance"], f, rtol=1e-8, atol=1e-10)

    def alpha(lap: np.ndarray, frac: float, t: np.ndarray) -> np.ndarray:  # N2NSkip eq. 7
        lam = np.sort(np.linalg.eigvalsh(lap))[1:]
        k = int(np.floor(frac * (lap.shape[0] - 1) + 0.5))
        e = np.exp(-np.outer(t, lam - lam[0]))
        return e[:, :k].sum(axis=1) / e.sum(axis=1)

    st = np.asarray(m["scree"]["times"])
    for i, frac in enumerate(m["scree"]["fractions"]):
        np.testing.assert_allclose(m["scree"]["alpha"][i], alpha(lap_g, frac, st), atol=1e-9)
        np.testing.assert_allclose(
            m["scree"]["reference_alpha"][i], alpha(lap_r, frac, st), atol=1e-9
        )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<th>target</th><th>reference</th>" in page
    assert "signature distance F" in page
    # both graphs' measures in one table: the row of edges holds both counts
    assert re.search(rf"edges \(real\)</td><td>{g.num_edges}</td><td>{ref.num_edges}</td>", page)


def test_binary_adjacency_image_against_a_hand_binning() -> None:
    from wiring.analysis._graphs import as_graph
    from wiring.analysis.report import _binary_image

    rng = np.random.default_rng(0)
    n, size = 10, 4
    dense = (rng.random((n, n)) < 0.3) * rng.standard_normal((n, n))
    blocks = rng.integers(0, 3, size=n)
    src, dst = np.nonzero(dense)
    ng = NeuralGraph(src, dst, dense[src, dst], num_nodes=n, blocks=blocks)
    order = np.argsort(blocks, kind="stable")
    binary = (dense[np.ix_(order, order)] != 0).astype(float)
    cell = (np.arange(n) * size) // n  # pixel of each block-ordered position
    expected = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            expected[i, j] = binary[np.ix_(cell == i, cell == j)].mean()
    np.testing.assert_allclose(_binary_image(as_graph(ng), size), expected)
    # unbinned: exactly the 0/1 block-ordered adjacency
    np.testing.assert_array_equal(_binary_image(as_graph(ng), n), binary)


def test_compare_with_a_reference_of_other_nodes_and_run_directories(
    tmp_path: Path, graphs: tuple
) -> None:
    _, g = graphs
    other = generators.random_k(generators.complete_dag([6, 10, 4], seed=2), 50, seed=3)
    runs = []
    for name, graph in (("a", g), ("b", other)):
        run = tmp_path / name
        run.mkdir()
        graph.save(run / "graph.npz")
        row = {"epoch": 0, "graph": summary(graph)}
        (run / "metrics.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
        runs.append(run)
    out = analyze(runs[0], reference=runs[1], progress=False)
    assert out == runs[0] / "analysis"
    m = _check_report(
        out, {"adjacency.png", "degrees.png", "heat_signature.png", "scree.png", "training.png"}
    )
    assert "signature_distance" not in m["heat"]
    assert any("signature distance F needs the same nodes" in note for note in m["notes"])
    assert m["reference_graph"]["nodes"] == other.num_nodes
    assert m["reference_summary"] == pytest.approx(summary(other))
    assert [r["epoch"] for r in m["reference_training"]] == [0]
    # the reference's heat starts on its own inputs: its signature is that of heat_signature
    assert np.asarray(m["scree"]["reference_alpha"]).shape == np.asarray(m["scree"]["alpha"]).shape


def test_compare_graph_objects_of_any_kind(tmp_path: Path) -> None:
    import networkx as nx

    g, ref = nx.path_graph(12), nx.cycle_graph(12)
    out = analyze(g, reference=ref, out=tmp_path / "nx", progress=False)
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    # no inputs, one block: heat starts on node 0 of both; F against expm of the two Laplacians
    a = np.zeros(12)
    a[0] = 1.0
    lg = nx.laplacian_matrix(g, range(12)).toarray().astype(float)
    lr = nx.laplacian_matrix(ref, range(12)).toarray().astype(float)
    t = m["heat"]["distance_times"][-1]
    f = np.linalg.norm(sla.expm(-t * lr) @ a - sla.expm(-t * lg) @ a)
    assert m["heat"]["signature_distance"][-1] == pytest.approx(f, rel=1e-8, abs=1e-12)
    assert m["graph"]["edges"] == 11 and m["reference_graph"]["edges"] == 12
