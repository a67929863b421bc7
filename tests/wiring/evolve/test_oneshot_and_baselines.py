"""One-shot pruning, lottery tickets and the adaptive-sparsity baselines."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import wiring
from wiring import generators
from wiring.evolve import (
    channelwise_sparse,
    count_real_parameters,
    lottery_ticket,
    prune_magnitude,
    wide_dense_width,
)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))


def _perturb(model: nn.Module) -> None:
    """Stand-in for training: new values everywhere."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))


def test_prune_magnitude_keeps_the_largest_of_each_site():
    torch.manual_seed(0)
    model = _mlp()
    w0, w2 = model[0].weight.detach().clone(), model[2].weight.detach().clone()
    prune_magnitude(model, 0.25)
    site0, site2 = wiring.sites(model)
    for site, w in ((site0, w0), (site2, w2)):
        k = round(0.25 * w.numel())
        threshold = w.abs().reshape(-1).sort(descending=True).values[k - 1]
        assert torch.equal(site.mask, w.abs() >= threshold) and site.num_real == k
        torch.testing.assert_close(site.weight.detach(), w * site.mask)
    # again on a model with sites: among the active weights only
    prune_magnitude(model, 0.1)
    assert [s.num_real for s in wiring.sites(model)] == [4, 2]
    with pytest.raises(ValueError, match=r"^density:"):
        prune_magnitude(model, 0.0)
    with pytest.raises(ValueError, match=r"^density:.*at least one"):
        prune_magnitude(_mlp(), 0.01)


@pytest.mark.parametrize("finetune", [False, True])
def test_lottery_ticket_rewinds_the_kept_weights(finetune):
    torch.manual_seed(1)
    model = _mlp()
    initial = copy.deepcopy(model.state_dict())
    _perturb(model)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    lottery_ticket(model, initial, 0.5, finetune=finetune)
    for site, key in zip(wiring.sites(model), ("0.weight", "2.weight"), strict=True):
        w = trained[key]
        k = round(0.5 * w.numel())
        threshold = w.abs().reshape(-1).sort(descending=True).values[k - 1]
        assert torch.equal(site.mask, w.abs() >= threshold)  # top-k of the *trained* weights
        source = trained[key] if finetune else initial[key]
        torch.testing.assert_close(site.weight.detach(), source * site.mask)
    bias = trained["0.bias"] if finetune else initial["0.bias"]
    torch.testing.assert_close(model[0].bias.detach(), bias)


def test_lottery_ticket_on_a_compiled_graph_with_a_sparsified_state():
    torch.manual_seed(2)
    g = generators.complete_dag([2, 4, 2], seed=0)
    model = wiring.compile(g, spatial_dims=0, selection="fixed")
    initial = copy.deepcopy(model.state_dict())
    _perturb(model)
    trained = model.weight.detach().clone()
    lottery_ticket(model, initial, 0.5)
    (site,) = wiring.sites(model)
    k = round(0.5 * g.num_candidates)
    assert site.num_real == k and model.graph().num_edges == k
    threshold = trained.abs().sort(descending=True).values[k - 1]
    assert torch.equal(site.mask, trained.abs() >= threshold)
    torch.testing.assert_close(model.weight.detach(), initial["weight"] * site.mask)


def test_lottery_ticket_rejects_a_foreign_state():
    with pytest.raises(ValueError, match=r"^initial_state:"):
        lottery_ticket(_mlp(), nn.Linear(3, 3).state_dict(), 0.5)
    with pytest.raises(TypeError, match=r"^initial_state:"):
        lottery_ticket(_mlp(), [1, 2], 0.5)


def test_channelwise_sparse_keeps_whole_kernel_slices():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(6, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    channelwise_sparse(model, 0.25, include=["0"], seed=4)
    (site,) = wiring.sites(model)
    pairs = site.mask.reshape(8, 6, 9)
    assert torch.all(pairs.all(dim=2) | ~pairs.any(dim=2))
    assert int(pairs.all(dim=2).sum()) == round(0.25 * 48)
    assert torch.all(site.weight[~site.mask] == 0)


def test_count_real_parameters_and_the_wide_dense_width():
    model = wiring.sparsify(_mlp(), 0.5)
    # (5*8)/2 + 8 + (8*2)/2 + 2
    assert count_real_parameters(model) == 20 + 8 + 8 + 2

    def mlp(width):
        return nn.Sequential(nn.Linear(5, width), nn.ReLU(), nn.Linear(width, 2))

    # dense count 8 w + 2: 38 real parameters -> w = 4.5 -> 4 (tie goes to the smaller width)
    assert wide_dense_width(mlp, 38) == 4
    assert wide_dense_width(mlp, 39) == 5
    for target in (100, 1234, 50_000):
        w = wide_dense_width(mlp, target)
        best = min(range(1, 10_000), key=lambda v: (abs(8 * v + 2 - target), v))
        assert w == best
    with pytest.raises(ValueError, match=r"^parameters:"):
        wide_dense_width(mlp, 0)
