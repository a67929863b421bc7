"""The demo: the trainings, results.json and report.html (learned wirings against random ones)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from wiring.demo import ANALYSIS_DIR, format_table, run_demo
from wiring.graph import NeuralGraph
from wiring.options import TinyClassifierSizes

TINY = TinyClassifierSizes(
    num_nodes=16, num_inputs=4, num_outputs=4, block_size=4, k=30, steps=2, method="rk4"
)


def test_demo_writes_results_and_the_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    rows = run_demo(out, epochs=1, progress=False, dynamics=("static",), model=TINY)
    saved = json.loads((out / "results.json").read_text())
    assert saved == rows
    assert [(r["dynamics"], r["selection"]) for r in rows] == [
        ("static", "dnw"),
        ("static", "random"),
    ]
    for r in rows:
        assert set(r) == {"dynamics", "selection", "test_accuracy", "edges", "params", "seconds"}
        assert 0.0 <= r["test_accuracy"] <= 1.0
        assert r["edges"] == 30 and r["seconds"] > 0
    assert rows[0]["params"] == rows[1]["params"]  # same k, same node ops, same stem and head
    table = format_table(rows)
    assert "static" in table and "random" in table

    # The learned wiring was analysed against the random one, from the two run directories.
    folder = out / "static-dnw" / ANALYSIS_DIR
    metrics = json.loads((folder / "metrics.json").read_text())
    assert Path(metrics["target"]) == out / "static-dnw"
    assert Path(metrics["reference"]) == out / "static-random"
    learned = NeuralGraph.load(out / "static-dnw" / "graph.npz")
    random = NeuralGraph.load(out / "static-random" / "graph.npz")
    assert learned.num_edges == random.num_edges == 30
    assert not (learned.real == random.real).all()  # top-k of learned weights vs uniform draw

    # report.html: self-contained, the accuracy table, and every figure of the comparison.
    page = (out / "report.html").read_text()
    for r in rows:
        assert f"<td>{r['selection']}</td><td>{r['test_accuracy']:.3f}</td>" in page
    sources = re.findall(r"src='([^']*)'", page)
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) >= 3 and len(sources) == len(pngs)
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in sources}
    assert embedded == {p.read_bytes() for p in pngs}
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert "static-dnw/analysis-vs-random/report.html" in page  # link to the full comparison
    assert (folder / "report.html").is_file()


def test_a_second_demo_replaces_the_first(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run_demo(out, epochs=1, progress=False, dynamics=("discrete",), model=TINY, report=False)
    assert not (out / "report.html").exists()
    stale = out / "discrete-dnw" / ANALYSIS_DIR
    stale.mkdir(parents=True)
    (stale / "old-figure.png").write_bytes(b"stale")
    run_demo(out, epochs=1, progress=False, dynamics=("discrete",), model=TINY)
    assert not (stale / "old-figure.png").exists()
    assert b"stale" not in (out / "report.html").read_bytes()
    assert "stale" not in (out / "report.html").read_text()
