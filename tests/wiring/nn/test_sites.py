"""Sparse sites: sparsify / sites / densify on ordinary layers, gradients, state, bad input."""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import wiring
from wiring import generators
from wiring.nn import reset_optimizer_state
from wiring.nn.sites import erk_counts


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))


class _Mixed(nn.Module):
    """Conv1d -> Conv2d -> LSTM -> Linear, one of each sparse-able layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(1, 3, 3, padding=1)
        self.lstm = nn.LSTM(12, 5, num_layers=2, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 2, 6)
        h = torch.relu(self.conv1(x))  # (B, 4, 6)
        h = torch.relu(self.conv2(h.unsqueeze(1)))  # (B, 3, 4, 6)
        h = h.permute(0, 3, 1, 2).reshape(x.shape[0], 6, 12)  # a sequence of 6 steps
        out, _ = self.lstm(h)
        return self.head(out[:, -1])


def test_sparsify_makes_one_site_per_weight_with_exact_counts():
    torch.manual_seed(0)
    model = wiring.sparsify(_Mixed(), 0.3, seed=3)
    found = wiring.sites(model)
    names = [s.name for s in found]
    assert names == [
        "conv1.weight",
        "conv2.weight",
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "lstm.weight_ih_l1",
        "lstm.weight_hh_l1",
        "head.weight",
    ]
    for site in found:
        mask = site.mask
        assert mask.dtype == torch.bool and mask.shape == site.weight.shape
        assert site.num_real == round(0.3 * site.weight.numel())
        assert site.density == pytest.approx(site.num_real / site.weight.numel())
        assert torch.all(site.weight[~mask] == 0)  # inactive weights are exactly zero
        assert site.weight.requires_grad
    # the layers keep their class behaviour and forward signature
    assert isinstance(model.lstm, nn.LSTM) and isinstance(model.head, nn.Linear)
    assert model(torch.randn(4, 2, 6)).shape == (4, 3)


def test_effective_weights_are_the_masked_weights():
    torch.manual_seed(1)
    model = wiring.sparsify(_mlp(), 0.5, seed=0)
    site = wiring.sites(model)[0]
    x = torch.randn(7, 6)
    torch.testing.assert_close(model[0](x), F.linear(x, site.weight * site.mask, model[0].bias))


def test_same_seed_same_masks_other_seed_other_masks():
    a = wiring.sparsify(_mlp(), 0.4, seed=5)
    b = wiring.sparsify(_mlp(), 0.4, seed=5)
    c = wiring.sparsify(_mlp(), 0.4, seed=6)
    ma = [s.mask for s in wiring.sites(a)]
    assert all(torch.equal(x, s.mask) for x, s in zip(ma, wiring.sites(b), strict=True))
    assert any(not torch.equal(x, s.mask) for x, s in zip(ma, wiring.sites(c), strict=True))


def _erk_reference(shapes, density):
    """ERK densities computed from the RigL formula by hand (no layer reaches density 1 here)."""
    sizes = [math.prod(s) for s in shapes]
    total = sum(round(density * n) for n in sizes)
    raw = [sum(s) / n for s, n in zip(shapes, sizes, strict=True)]
    eps = total / sum(r * n for r, n in zip(raw, sizes, strict=True))
    return [eps * r * n for r, n in zip(raw, sizes, strict=True)], total


@pytest.mark.parametrize("density", [0.05, 0.1, 0.3])
def test_erk_counts_follow_the_formula(density):
    shapes = [(64, 32, 3, 3), (128, 64, 3, 3), (100, 128), (256, 512)]
    expect, total = _erk_reference(shapes, density)
    assert all(e <= math.prod(s) for e, s in zip(expect, shapes, strict=True))  # no clipping
    got = erk_counts(shapes, density)
    assert sum(got) == total
    for g, e in zip(got, expect, strict=True):
        assert abs(g - e) < 1.0
    # bigger layers get lower density (the point of Erdős–Rényi)
    densities = [g / math.prod(s) for g, s in zip(got, shapes, strict=True)]
    assert densities[3] < densities[2]


def test_erk_makes_small_layers_dense_and_keeps_the_total():
    shapes = [(4, 2), (500, 400)]  # the tiny layer's ratio (6/8) would ask for density > 1
    got = erk_counts(shapes, 0.5)
    total = round(0.5 * 8) + round(0.5 * 200000)
    assert got[0] == 8 and sum(got) == total
    # the remaining budget goes to the big layer
    assert got[1] == total - 8


def test_sparsify_erk_through_the_model():
    model = wiring.sparsify(_mlp(), 0.3, distribution="erk")
    found = wiring.sites(model)
    assert [s.num_real for s in found] == erk_counts([tuple(s.weight.shape) for s in found], 0.3)


def _dense_grads(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """dL/dW_eff for every site, from a plain copy whose weights are leaf tensors W_eff = w * m."""
    plain = wiring.densify(copy.deepcopy(model))
    for p in plain.parameters():
        p.grad = None
    plain(x).pow(2).sum().backward()
    names = [s.name for s in wiring.sites(model)]
    params = dict(plain.named_parameters())
    return [params[n].grad for n in names]


@pytest.mark.parametrize("rule", ["fixed", "dnw", "dnw-no-update"])
def test_every_site_holds_the_full_gradient_after_backward(rule):
    torch.manual_seed(2)
    model = wiring.sparsify(_Mixed(), 0.4, rule=rule, seed=1).double()
    x = torch.randn(5, 2, 6, dtype=torch.float64)
    expect = _dense_grads(model, x)
    model(x).pow(2).sum().backward()
    for site, dense in zip(wiring.sites(model), expect, strict=True):
        mask = site.mask
        torch.testing.assert_close(site.grad, dense)  # every position, active or not
        assert (dense[~mask] != 0).any()  # the inactive part is really there
        if rule == "dnw":  # straight-through: the parameter gets all of it
            torch.testing.assert_close(site.weight.grad, dense)
        else:  # the optimizer moves only active weights
            torch.testing.assert_close(site.weight.grad, dense * mask)


def test_site_gradient_is_replaced_by_the_next_backward_pass():
    torch.manual_seed(3)
    model = wiring.sparsify(_mlp(), 0.5)
    x1, x2 = torch.randn(4, 6), torch.randn(4, 6)
    model(x1).sum().backward()
    model.zero_grad()
    model(x2).sum().backward()
    expect = _dense_grads_sum(model, x2)
    torch.testing.assert_close(wiring.sites(model)[0].grad, expect)


def _dense_grads_sum(model, x):
    plain = wiring.densify(copy.deepcopy(model))
    plain(x).sum().backward()
    return plain[0].weight.grad


def test_compiled_graph_is_a_site_with_the_full_gradient():
    g = generators.complete_dag([3, 5, 2], seed=0)
    model = wiring.compile(g, spatial_dims=0, node_op="identity", k=8, dtype=torch.float64)
    (site,) = wiring.sites(model)
    assert site.name == "weight" and site.weight is model.weight
    assert site.num_real == 8 and site.mask.shape == (g.num_candidates,)
    x = torch.randn(4, 3, dtype=torch.float64)
    model(x).pow(2).sum().backward()
    # straight-through DNW: the parameter gradient is the full effective-weight gradient
    torch.testing.assert_close(site.grad, model.weight.grad)
    assert (site.grad[~site.mask] != 0).any()
    wrapped = nn.Sequential(nn.Identity(), model)
    assert [s.name for s in wiring.sites(wrapped)] == ["1.weight"]


def test_state_dict_round_trip_carries_the_masks():
    torch.manual_seed(4)
    model = wiring.sparsify(_Mixed(), 0.25, seed=11)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert any(k.endswith("0.real") for k in state)  # the mask is a buffer of the state dict
    fresh = wiring.sparsify(_Mixed(), 0.25, seed=99)  # other masks before loading
    fresh.load_state_dict(state)
    for a, b in zip(wiring.sites(model), wiring.sites(fresh), strict=True):
        assert torch.equal(a.mask, b.mask)
    x = torch.randn(3, 2, 6)
    torch.testing.assert_close(model(x), fresh(x))


def test_no_grad_eval_and_deepcopy_work():
    model = wiring.sparsify(_Mixed(), 0.5)
    x = torch.randn(2, 2, 6)
    model(x).sum().backward()  # the LSTM caches its weights; deepcopy must still work
    clone = copy.deepcopy(model)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert not out.requires_grad
    clone.eval()
    torch.testing.assert_close(clone(x), out)


def test_densify_leaves_plain_layers_with_zeros():
    torch.manual_seed(5)
    model = wiring.sparsify(_Mixed(), 0.3)
    masks = [s.mask.clone() for s in wiring.sites(model)]
    param = wiring.sites(model)[0].weight
    x = torch.randn(3, 2, 6)
    before = model(x)
    wiring.densify(model)
    assert wiring.sites(model) == []
    assert type(model.lstm) is nn.LSTM and type(model.conv1) is nn.Conv1d
    assert model.conv1.weight is param  # the same Parameter: optimizers stay valid
    assert torch.equal(model.conv1.weight != 0, masks[0] & (model.conv1.weight != 0))
    assert int((model.lstm.weight_hh_l0 != 0).sum()) <= int(masks[3].sum())
    torch.testing.assert_close(model(x), before)
    assert set(model.state_dict()) == set(_Mixed().state_dict())


def test_include_exclude_and_dense_first():
    model = wiring.sparsify(_Mixed(), 0.5, include=["lstm", "head"], exclude=["*_hh_l1"])
    assert [s.name for s in wiring.sites(model)] == [
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "lstm.weight_ih_l1",
        "head.weight",
    ]
    model = wiring.sparsify(_mlp(), 0.5, dense_first=True)
    assert [s.name for s in wiring.sites(model)] == ["2.weight", "4.weight"]
    assert isinstance(model[0].weight, nn.Parameter)  # untouched


def test_layers_inside_a_compiled_graph_are_not_sparsified():
    g = generators.complete_dag([2, 4, 2], seed=0)
    model = nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), wiring.compile(g, spatial_dims=1))
    wiring.sparsify(model, 0.5)
    assert [s.name for s in wiring.sites(model)] == ["0.weight", "1.weight"]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"density": 0.0}, "density"),
        ({"density": 1.5}, "density"),
        ({"density": float("nan")}, "density"),
        ({"density": True}, "density"),
        ({"density": "0.5"}, "density"),
        ({"density": 0.001}, "density"),  # the last layer (24 weights) would keep 0
        ({"rule": "magic"}, "rule"),
        ({"distribution": "normal"}, "distribution"),
        ({"include": ["nothing*"]}, "include"),
        ({"exclude": ["0", "zzz"]}, "exclude"),
        ({"include": [3]}, "include"),
        ({"seed": -1}, "seed"),
        ({"dense_first": 1}, "dense_first"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    args = {"density": 0.5, **kwargs}
    density = args.pop("density")
    with pytest.raises(ValueError, match=f"^{argument}:"):
        wiring.sparsify(_mlp(), density, **args)


def test_nothing_to_sparsify_and_double_sparsify_are_refused():
    with pytest.raises(ValueError, match=r"^model:.*no nn.Linear"):
        wiring.sparsify(nn.Sequential(nn.ReLU()), 0.5)
    model = wiring.sparsify(_mlp(), 0.5)
    with pytest.raises(ValueError, match=r"^model:.*already a site"):
        wiring.sparsify(model, 0.5)
    with pytest.raises(TypeError, match=r"^model:"):
        wiring.sparsify("not a model", 0.5)


def test_set_mask_zeroes_weights_and_gradients_and_checks_input():
    model = wiring.sparsify(_mlp(), 1.0)
    site = wiring.sites(model)[0]
    model(torch.randn(3, 6)).sum().backward()
    new = torch.rand(site.weight.shape) < 0.3
    site.set_mask(new)
    assert torch.equal(site.mask, new)
    assert torch.all(site.weight[~new] == 0) and torch.all(site.weight.grad[~new] == 0)
    with pytest.raises(ValueError, match=r"^mask:.*shape"):
        site.set_mask(torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^mask:.*bool"):
        site.set_mask(torch.ones(site.weight.shape))
    dnw = wiring.sites(wiring.sparsify(_mlp(), 0.5, rule="dnw"))[0]
    with pytest.raises(ValueError, match=r"^mask:.*computes its mask"):
        dnw.set_mask(torch.ones(dnw.weight.shape, dtype=torch.bool))


def test_reset_optimizer_state_zeroes_momentum_where_the_mask_is_off():
    torch.manual_seed(6)
    model = wiring.sparsify(_mlp(), 1.0)
    for optimizer in (
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        torch.optim.Adam(model.parameters(), lr=0.1, amsgrad=True),
    ):
        model(torch.randn(8, 6)).pow(2).sum().backward()
        optimizer.step()
        site = wiring.sites(model)[1]
        off = torch.rand(site.weight.shape) < 0.5
        site.set_mask(~off)
        reset_optimizer_state(optimizer, model)
        state = optimizer.state[site.weight]
        tensors = [v for v in state.values() if v.shape == site.weight.shape]
        assert len(tensors) >= 1
        for value in tensors:
            assert torch.all(value[off] == 0) and (value[~off] != 0).any()
        # and the next step leaves the dropped weights at exactly zero
        optimizer.zero_grad()
        model(torch.randn(8, 6)).pow(2).sum().backward()
        optimizer.step()
        assert torch.all(site.weight[off] == 0)
    with pytest.raises(TypeError, match=r"^optimizer:"):
        reset_optimizer_state("sgd", model)


def test_dnw_on_a_conv2d_keeps_k_real_and_trains_hallucinated_weights():
    torch.manual_seed(7)
    model = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 5 * 5, 4)
    )
    wiring.sparsify(model, 0.2, rule="dnw", include=["0"])
    (site,) = wiring.sites(model)
    k = round(0.2 * site.weight.numel())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(16, 2, 5, 5), torch.randint(0, 4, (16,))
    masks = []
    for _ in range(20):
        assert site.num_real == k
        before = site.weight.detach().clone()
        mask = site.mask
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        # the straight-through rule moves hallucinated weights too
        assert (site.weight.detach()[~mask] != before[~mask]).any()
        masks.append(site.mask)
    assert any(not torch.equal(masks[0], m) for m in masks[1:])


def test_top_k_torch_path_follows_the_shared_tie_rule():
    from wiring._topk import top_k_mask as numpy_rule
    from wiring.nn.selection import _top_k_mask_torch, top_k_mask

    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(1, 50))
        score = rng.integers(0, 4, size=m).astype(np.float32)  # many ties
        k = int(rng.integers(-1, m + 2))
        want = np.zeros(m, bool)
        want[np.argsort(-score, kind="stable")[: max(k, 0)]] = True  # independent reference
        assert numpy_rule(score, k).tolist() == want.tolist()
        assert _top_k_mask_torch(torch.from_numpy(score), k).tolist() == want.tolist()
        assert top_k_mask(torch.from_numpy(score), k).tolist() == want.tolist()


@pytest.mark.parametrize("kind", ["distinct", "mostly-zero", "few-values", "all-equal"])
def test_shared_top_k_rule_on_large_inputs_with_many_equal_values(kind):
    from wiring._topk import top_k_mask as numpy_rule

    rng = np.random.default_rng(1)
    m = 20_000
    score = {
        "distinct": rng.random(m),
        "mostly-zero": np.where(rng.random(m) < 0.9, 0.0, rng.random(m)),
        "few-values": rng.integers(0, 5, m).astype(np.float64),
        "all-equal": np.full(m, 0.5),
    }[kind]
    for k in (1, 500, 1_999, 2_000, 2_001, 10_000, 19_999):
        want = np.zeros(m, bool)
        want[np.argsort(-score, kind="stable")[:k]] = True
        assert np.array_equal(numpy_rule(score, k), want), k


def test_count_and_export_see_the_masks_of_sites():
    torch.manual_seed(8)
    model = wiring.sparsify(
        nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8, 4)),
        0.25,
    )
    real = sum(s.num_real for s in wiring.sites(model))
    biases = 6 + 4
    counted = wiring.count(model, (2, 8))
    assert counted["params"] == real + biases
    assert counted["params_dense"] == 36 + 192 + biases
    # multiply-adds: every real conv weight at each of the 8 positions, every real linear weight once
    conv, lin = wiring.sites(model)
    assert counted["macs"] == conv.num_real * 8 + lin.num_real
    model.eval()
    x = torch.randn(3, 2, 8)
    exported = wiring.export(model)
    torch.testing.assert_close(exported(x), model(x))
    assert wiring.sites(model)  # the model itself keeps its sites
