"""The ``wiring`` command, run in-process through ``main([...])``."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from wiring import cli
from wiring.graph import NeuralGraph

TINY_MODEL = {
    "num_nodes": 16,
    "num_inputs": 4,
    "num_outputs": 4,
    "block_size": 4,
    "k": 20,
    "stem_stride": 2,
}


def _toml_table(mapping: dict) -> str:
    return "\n".join(f"{k} = {json.dumps(v)}" for k, v in mapping.items())


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'seed = 0\n[data]\nname = "digits"\n[model]\n'
        + _toml_table(TINY_MODEL)
        + "\n[train]\nepochs = 1\nbatch_size = 256\nprogress = false\n[analysis]\nevery = 1\n"
    )
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_user_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err


# ------------------------------------------------------------------------------------- info


def _field(out: str, name: str) -> str:
    for line in out.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name!r} line in:\n{out}")


def test_info_against_networkx(tmp_path, capsys):
    # Blocks 0 | 1 1 | 2: node 4 is a hidden dead end (no path to the output), edge 5->? none.
    src = [0, 1, 0, 1, 2, 0, 3, 1]
    dst = [2, 3, 4, 4, 5, 5, 5, 2]
    real = [True, True, True, True, True, False, True, False]
    blocks = [0, 0, 1, 1, 1, 2]
    g = NeuralGraph(
        src,
        dst,
        np.linspace(0.1, 0.8, 8),
        num_nodes=6,
        blocks=blocks,
        inputs=[0, 1],
        outputs=[5],
        real=real,
    )
    path = tmp_path / "g.npz"
    g.save(path)
    code, out, err = _run(capsys, "info", str(path))
    assert code == 0, err

    G = nx.DiGraph()
    G.add_nodes_from(range(6))
    G.add_edges_from((u, v) for u, v, r in zip(src, dst, real, strict=True) if r)
    from_inputs = set().union(*(nx.descendants(G, i) | {i} for i in (0, 1)))
    to_outputs = nx.ancestors(G, 5) | {5}
    effective = sum(1 for u, v in G.edges if u in from_inputs and v in to_outputs)

    assert _field(out, "nodes") == "6"
    assert _field(out, "inputs") == "2" and _field(out, "outputs") == "1"
    assert _field(out, "candidates") == "8"
    assert _field(out, "edges").split()[0] == str(G.number_of_edges())
    assert _field(out, "effective edges").split()[0] == str(effective)
    assert effective == 4  # 0->2, 1->3, 2->5, 3->5; not 0->4, 1->4 (dead end)
    assert _field(out, "blocks").startswith("3 (sizes 2, 3, 1)")
    assert _field(out, "acyclic") == ("yes" if nx.is_directed_acyclic_graph(G) else "no")
    assert _field(out, "longest path") == str(nx.dag_longest_path_length(G))


def test_info_block_sizes_with_sparse_block_ids(tmp_path, capsys):
    g = NeuralGraph(
        [0, 1], [1, 2], [1.0, 1.0], num_nodes=3, blocks=[0, 4, 9], inputs=[0], outputs=[2]
    )
    assert cli.graph_info(g)["block_sizes"] == [1, 1, 1]


def test_info_of_a_cyclic_graph(tmp_path, capsys):
    g = NeuralGraph([0, 1, 2], [1, 2, 1], [1.0, 1.0, 1.0], num_nodes=3, inputs=[0], outputs=[2])
    path = tmp_path / "cyc.npz"
    g.save(path)
    code, out, _ = _run(capsys, "info", str(path))
    assert code == 0
    assert _field(out, "acyclic") == "no"
    assert "cycle" in _field(out, "longest path")
    info = cli.graph_info(g)
    assert info["longest_path"] is None and info["effective_edges"] == 3


def test_info_missing_file(tmp_path, capsys):
    code, _, err = _run(capsys, "info", str(tmp_path / "nope.npz"))
    _assert_user_error(code, err, "graph file not found", "nope.npz")


def test_info_not_a_graph(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip file")
    code, _, err = _run(capsys, "info", str(path))
    _assert_user_error(code, err, "bad.npz")


# ------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "COMMAND"),
        (["fly"], "invalid choice"),
        (["train"], "CONFIG.toml"),
        (["train", "x.toml"], "--out"),
        (["demo", "--epochs", "many"], "--epochs"),
    ],
)
def test_bad_arguments_exit_2(capsys, argv, needle):
    code, _, err = _run(capsys, *argv)
    _assert_user_error(code, err, needle)


def test_help_exits_0(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "train" in out


# ------------------------------------------------------------------------------------- train


def test_train_config_errors_name_the_key(tmp_path, tiny_config, capsys):
    out = str(tmp_path / "run")
    code, _, err = _run(capsys, "train", str(tiny_config), "--out", out, "--set", "train.epochs=0")
    _assert_user_error(code, err, "train.epochs")
    code, _, err = _run(capsys, "train", str(tiny_config), "--out", out, "--set", "train.epoch=3")
    _assert_user_error(code, err, "train.epoch", "unknown key")
    code, _, err = _run(capsys, "train", str(tiny_config), "--out", out, "--set", "noequals")
    _assert_user_error(code, err, "--set")
    code, _, err = _run(capsys, "train", str(tiny_config), "--out", out, "--set", "model.k=100000")
    _assert_user_error(code, err, "model.k")
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nepochs = "ten"\n')
    code, _, err = _run(capsys, "train", str(bad), "--out", out)
    _assert_user_error(code, err, "train.epochs", "bad.toml")
    code, _, err = _run(capsys, "train", str(tmp_path / "missing.toml"), "--out", out)
    _assert_user_error(code, err, "config file not found")
    assert not (tmp_path / "run").exists()  # nothing started


def test_train_end_to_end(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    code, out, err = _run(
        capsys,
        "train",
        str(tiny_config),
        "--out",
        str(run),
        "--set",
        "seed=1",
        "--set",
        'model.dynamics="discrete"',
        "--set",
        "model.steps=2",
    )
    assert code == 0, err
    assert "test accuracy" in out
    for name in ("config.toml", "metrics.jsonl", "checkpoint.pt", "graph.npz"):
        assert (run / name).is_file(), name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1 and 0.0 <= metrics[0]["test_accuracy"] <= 1.0
    assert "algebraic_connectivity" in metrics[0]["graph"]  # [analysis] every = 1
    import tomllib

    resolved = tomllib.loads((run / "config.toml").read_text())
    assert resolved["seed"] == 1 and resolved["model"]["dynamics"] == "discrete"
    g = NeuralGraph.load(run / "graph.npz")
    assert g.num_nodes == 16 and g.num_edges == 20

    code, out, _ = _run(capsys, "info", str(run / "graph.npz"))
    assert code == 0 and _field(out, "edges").split()[0] == "20"
    code, out, _ = _run(capsys, "info", str(run))  # a run directory means its graph.npz
    assert code == 0 and _field(out, "edges").split()[0] == "20"

    # The same directory again without --resume is refused, and nothing is overwritten.
    before = (run / "checkpoint.pt").read_bytes()
    code, _, err = _run(capsys, "train", str(tiny_config), "--out", str(run))
    _assert_user_error(code, err, "resume")
    assert (run / "checkpoint.pt").read_bytes() == before


# ------------------------------------------------------------------------------------ analyze


def test_analyze_missing_target(tmp_path, capsys):
    code, _, err = _run(capsys, "analyze", str(tmp_path / "nothing.npz"))
    _assert_user_error(code, err, "not found", "nothing.npz")


def test_analyze_calls_the_report(tmp_path, capsys, monkeypatch):
    report = pytest.importorskip("wiring.analysis.report")
    calls = []

    def fake_analyze(target, *, reference=None, out=None):
        calls.append((Path(target), reference, out))
        return tmp_path / "report"

    monkeypatch.setattr(report, "analyze", fake_analyze)
    g = NeuralGraph([0], [1], [1.0], num_nodes=2, inputs=[0], outputs=[1])
    g.save(tmp_path / "g.npz")
    g.save(tmp_path / "ref.npz")
    code, out, err = _run(
        capsys,
        "analyze",
        str(tmp_path / "g.npz"),
        "--reference",
        str(tmp_path / "ref.npz"),
        "--out",
        str(tmp_path / "rep"),
    )
    assert code == 0, err
    assert calls == [(tmp_path / "g.npz", tmp_path / "ref.npz", str(tmp_path / "rep"))]
    assert "report" in out


# --------------------------------------------------------------------------------------- demo


def test_demo_command_runs_the_library_demo(tmp_path, capsys, monkeypatch):
    import wiring.demo

    calls = []

    def fake_run_demo(out, *, epochs, seed, progress):
        calls.append((Path(out), epochs, seed, progress))
        return [
            {
                "dynamics": "static",
                "selection": s,
                "test_accuracy": a,
                "edges": 3,
                "params": 9,
                "seconds": 1.0,
            }
            for s, a in (("dnw", 0.5), ("random", 0.25))
        ]

    monkeypatch.setattr(wiring.demo, "run_demo", fake_run_demo)
    code, out, err = _run(capsys, "demo", "--out", str(tmp_path / "d"), "--no-progress")
    assert code == 0, err
    assert calls == [(tmp_path / "d", None, 0, False)]  # None: the recipe's epochs
    assert "0.500" in out and "0.250" in out
    assert str(tmp_path / "d" / "report.html") in out
    code, _, err = _run(capsys, "demo", "--epochs", "0")
    _assert_user_error(code, err, "--epochs")


# ------------------------------------------------------------------ user errors and bugs


def test_bad_input_files_are_one_line(tmp_path, capsys):
    (tmp_path / "g.txt").write_text("not a graph")
    code, _, err = _run(capsys, "analyze", str(tmp_path / "g.txt"))
    _assert_user_error(code, err, "expected a graph .npz file or a run directory")
    (tmp_path / "bad.npz").write_bytes(b"PK not really a zip")
    code, _, err = _run(capsys, "analyze", str(tmp_path / "bad.npz"))
    _assert_user_error(code, err, "bad.npz")
    good = NeuralGraph([0], [1], [1.0], num_nodes=2, inputs=[0], outputs=[1])
    good.save(tmp_path / "good.npz")
    code, _, err = _run(capsys, "analyze", str(tmp_path / "good.npz"), "--reference", str(tmp_path))
    _assert_user_error(code, err, "reference graph not found", "graph.npz")


def test_resume_with_other_settings_is_one_line(tmp_path, tiny_config, capsys):
    run = str(tmp_path / "run")
    assert _run(capsys, "train", str(tiny_config), "--out", run)[0] == 0
    code, _, err = _run(
        capsys, "train", str(tiny_config), "--out", run, "--resume", "--set", "train.lr=0.5"
    )
    _assert_user_error(code, err, "resume", "lr (checkpoint 0.1, now 0.5)")


def test_a_type_error_from_our_code_keeps_its_traceback(tmp_path, tiny_config, monkeypatch):
    import wiring.models

    def buggy(**kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(wiring.models, "tiny_classifier", buggy)
    with pytest.raises(TypeError, match="unsupported operand"):
        cli.main(["train", str(tiny_config), "--out", str(tmp_path / "run")])


def test_a_value_error_during_training_keeps_its_traceback(tmp_path, tiny_config, monkeypatch):
    from wiring.train import Trainer

    def buggy(self):
        raise ValueError("operands could not be broadcast together with shapes (3,) (4,)")

    monkeypatch.setattr(Trainer, "fit", buggy)
    with pytest.raises(ValueError, match="broadcast"):
        cli.main(["train", str(tiny_config), "--out", str(tmp_path / "run")])


def test_a_bug_in_the_analysis_keeps_its_traceback(tmp_path, monkeypatch):
    report = pytest.importorskip("wiring.analysis.report")

    def buggy(target, *, reference=None, out=None):
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(report, "analyze", buggy)
    NeuralGraph([0], [1], [1.0], num_nodes=2, inputs=[0], outputs=[1]).save(tmp_path / "g.npz")
    with pytest.raises(TypeError, match="subscriptable"):
        cli.main(["analyze", str(tmp_path / "g.npz")])


def test_disk_errors_are_one_line(tmp_path, tiny_config, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the run directory should go")
    code, _, err = _run(capsys, "train", str(tiny_config), "--out", str(blocker / "run"))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
