"""The MNIST-1D example configs of issue 13 (5k and 20k learned wirings) and the CNN they face."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from wiring import config
from wiring.cli import build_model
from wiring.data import Dataset

ROOT = Path(__file__).resolve().parents[2]


def _toy() -> Dataset:
    x = torch.randn(8, 1, 40)
    y = torch.arange(8) % 10
    return Dataset("toy", x, y, x, y, num_classes=10)


@pytest.mark.parametrize(
    ("name", "paper", "edges"), [("mnist1d_small", 5_218, 3_000), ("mnist1d_best", 19_658, 16_000)]
)
def test_config_loads_and_builds_the_stated_model(name, paper, edges):
    cfg = config.load(ROOT / "examples" / "configs" / f"{name}.toml")
    model = build_model(cfg, _toy())
    counts = model.parameter_counts()
    # closed form: edges + 5 per non-output node (instance-norm affine 2, 3-tap kernel) + stem + head
    m = cfg.model
    half = m.num_inputs // 2
    stem = (3 * half + half) + 2 * half + (3 * half + half) + (half * m.num_inputs + m.num_inputs)
    stem += 2 * m.num_inputs
    expected = edges + 5 * (m.num_nodes - m.num_outputs) + stem + (10 * m.num_outputs + 10)
    assert counts["paper"] == expected == paper
    assert counts["edges"] == edges and paper <= 20_000
    # full resolution, and the head averages each output node over the whole signal
    z = torch.randn(3, m.num_outputs, 40)
    head = model.head
    torch.testing.assert_close(head(z), head.fc(z.mean(dim=2)))
    assert model.stem(torch.randn(2, 1, 40)).shape == (2, m.num_inputs, 40)


def test_the_cnn_baseline_has_the_mnist1d_papers_sizes():
    spec = importlib.util.spec_from_file_location(
        "cnn_baseline", ROOT / "benchmarks" / "mnist1d_cnn_baseline.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for channels, expected in ((25, 5_210), (53, 19_938)):
        # conv 1->C (k5) + two C->C (k3) convolutions with biases, linear C*5 -> 10
        closed = (5 * channels + channels) + 2 * (3 * channels * channels + channels)
        closed += 5 * channels * 10 + 10
        net = mod.cnn(channels)
        assert sum(p.numel() for p in net.parameters()) == closed == expected
        assert net(torch.randn(2, 1, 40)).shape == (2, 10)
