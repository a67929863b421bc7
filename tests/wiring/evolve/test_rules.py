"""Rule objects on models: constant counts, optimizer state, resume, compiled graphs, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import wiring
from wiring import generators
from wiring.evolve import (
    RULES,
    SET,
    AdaptiveSparsity,
    L1Anneal,
    MagnitudePruning,
    RigL,
    TargetedDropout,
    make_rule,
    reset_optimizer_state,
    rule_parameters,
)


class _Net(nn.Module):
    """Conv2d -> LSTM -> Linear: every kind of site."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.lstm = nn.LSTM(16, 6, batch_first=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 2, 4, 4)
        h = torch.relu(self.conv(x))  # (B, 4, 4, 4)
        out, _ = self.lstm(h.flatten(2).transpose(1, 2).reshape(x.shape[0], 4, 16))
        return self.fc(out[:, -1])


def _batch(step: int, batch: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    return torch.randn(batch, 2, 4, 4, generator=g), torch.randint(0, 3, (batch,), generator=g)


def _train(model, rule, steps, *, optimizer=None, start=0, lr=0.1, check=None):
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for step in range(start, steps):
        x, y = _batch(step)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if rule.step(model, step):
            reset_optimizer_state(optimizer, model)
        optimizer.step()
        if check is not None:
            check(step, optimizer)
    return optimizer


@pytest.mark.parametrize("cls", [RigL, SET])
@pytest.mark.parametrize("density", [1.0, 0.5, 0.05])
def test_rigl_and_set_keep_the_count_of_every_site(cls, density):
    torch.manual_seed(0)
    model = wiring.sparsify(_Net(), density, seed=1)
    counts = [s.num_real for s in wiring.sites(model)]
    rule = cls(drop_fraction=0.5, every=3, until=1.0, schedule="constant", total_steps=25)
    masks = [s.mask.clone() for s in wiring.sites(model)]

    def check(step, optimizer):
        for site, count in zip(wiring.sites(model), counts, strict=True):
            assert site.num_real == count
            assert torch.all(site.weight[~site.mask] == 0)

    _train(model, rule, 25, check=check)
    assert rule.updates == 8
    changed = [not torch.equal(a, s.mask) for a, s in zip(masks, wiring.sites(model), strict=True)]
    assert any(changed) == (density < 1.0)


def test_rigl_grows_where_the_gradient_is_largest_on_a_model():
    torch.manual_seed(1)
    model = wiring.sparsify(nn.Sequential(nn.Linear(12, 10)), 0.3, seed=0)
    (site,) = wiring.sites(model)
    x = torch.randn(32, 12)
    model(x).pow(2).sum().backward()
    before_mask, before_w = site.mask.clone(), site.weight.detach().clone()
    grad = site.grad.clone()
    rule = RigL(drop_fraction=0.2, every=1, schedule="constant", total_steps=100)
    assert rule.step(model, 1)
    n = math.floor(0.2 * 36)
    active = torch.nonzero(before_mask.reshape(-1)).squeeze(1)
    order = torch.argsort(before_w.reshape(-1)[active].abs(), stable=True)
    dropped = torch.zeros(120, dtype=torch.bool)
    dropped[active[order[:n]]] = True
    candidates = ~(before_mask.reshape(-1) & ~dropped)
    scores = torch.where(candidates, grad.reshape(-1).abs(), -1.0)
    grown = torch.zeros(120, dtype=torch.bool)
    grown[torch.argsort(-scores, stable=True)[:n]] = True
    expect = (before_mask.reshape(-1) & ~dropped) | grown
    assert torch.equal(site.mask.reshape(-1), expect)
    new = expect & ~before_mask.reshape(-1)
    assert torch.all(site.weight.detach().reshape(-1)[new] == 0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_state_of_dropped_weights_stays_zero(optimizer):
    torch.manual_seed(2)
    model = wiring.sparsify(_Net(), 0.3, seed=0)
    opt = (
        torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
        if optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
    )
    rule = RigL(drop_fraction=0.5, every=2, until=1.0, total_steps=20)
    dropped_ever = [torch.zeros_like(s.mask) for s in wiring.sites(model)]
    masks = [s.mask.clone() for s in wiring.sites(model)]

    def check(step, optimizer):
        for i, site in enumerate(wiring.sites(model)):
            mask = site.mask
            dropped_ever[i] |= masks[i] & ~mask
            masks[i] = mask.clone()
            assert torch.all(site.weight[~mask] == 0)  # momentum resurrected nothing
            for value in optimizer.state[site.weight].values():
                if value.shape == mask.shape:
                    assert torch.all(value[~mask] == 0)

    _train(model, rule, 20, optimizer=opt, check=check)
    assert all(d.any() for d in dropped_ever)  # the rule really dropped weights


@pytest.mark.parametrize(
    "make",
    [
        lambda: RigL(drop_fraction=0.4, every=4, until=1.0, total_steps=24),
        lambda: SET(drop_fraction=0.4, every=4, until=1.0, total_steps=24, seed=3),
        lambda: AdaptiveSparsity(k=0.5, every=4, total_steps=24, seed=7),
        lambda: AdaptiveSparsity.deterministic(0.5, every=4, total_steps=24, seed=7),
        lambda: MagnitudePruning(0.2, begin=0.1, end=0.8, every=3, total_steps=24),
        lambda: L1Anneal(0.2, l1=1e-3, every=3, total_steps=24),
    ],
)
def test_a_resumed_rule_continues_with_the_same_masks(make):
    def fresh():
        torch.manual_seed(3)
        return wiring.sparsify(_Net(), 0.5 if not isinstance(make(), MagnitudePruning) else 1.0)

    model, rule = fresh(), make()
    opt = _train(model, rule, 24)
    final = [s.mask.clone() for s in wiring.sites(model)]
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    model, rule = fresh(), make()
    opt = _train(model, rule, 13)
    saved = (model.state_dict(), opt.state_dict(), rule.state_dict())
    # a new process: new objects, state restored from what a checkpoint holds
    model, rule = fresh(), make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.load_state_dict(saved[0])
    opt.load_state_dict(saved[1])
    rule.load_state_dict(saved[2])
    _train(model, rule, 24, optimizer=opt, start=13)
    for mask, site in zip(final, wiring.sites(model), strict=True):
        assert torch.equal(mask, site.mask)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, weights[key], rtol=0, atol=0)


def test_rigl_on_a_compiled_graph():
    torch.manual_seed(4)
    g = generators.random_k(generators.complete_dag([3, 8, 8, 2], seed=0), 30, seed=1)
    model = wiring.compile(g, spatial_dims=0, selection="fixed")
    rule = RigL(drop_fraction=0.5, every=2, until=1.0, total_steps=20)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    first = model.graph().real.copy()
    gen = torch.Generator().manual_seed(0)
    for step in range(20):
        x = torch.randn(16, 3, generator=gen)
        opt.zero_grad()
        (model(x) - x[:, :2]).pow(2).mean().backward()
        if rule.step(model, step):
            reset_optimizer_state(opt, model)
        opt.step()
        graph = model.graph()
        assert graph.num_edges == 30
        assert torch.all(model.weight[~model.real_mask()] == 0)
    assert (model.graph().real != first).any()


def test_targeted_dropout_drops_only_in_training_and_prunes_at_the_end():
    torch.manual_seed(5)
    model = wiring.sparsify(nn.Sequential(nn.Linear(40, 30)), 1.0)
    (site,) = wiring.sites(model)
    rule = TargetedDropout(0.5, 0.9, total_steps=3)
    assert rule.step(model, 0) is False
    targets = rule.targets(site)
    assert int(targets.sum()) == 600 and int(site.selection.dropout.sum()) > 480
    assert not (site.selection.dropout & ~targets).any()
    x = torch.randn(5, 40)
    eff = site.weight * site.mask * ~site.selection.dropout
    torch.testing.assert_close(model(x), F.linear(x, eff, model[0].bias))  # training pass
    model.eval()
    torch.testing.assert_close(model(x), F.linear(x, site.weight, model[0].bias))  # all weights
    model.train()
    smallest = site.weight.detach().abs() <= site.weight.detach().abs().median()
    assert rule.step(model, 3) is True  # the end: prune the targets for good
    assert site.num_real == 600 and site.selection.dropout is None
    assert torch.equal(site.mask, ~targets) and not (site.mask & smallest & targets).any()
    assert rule.step(model, 4) is False


def test_magnitude_pruning_follows_the_cubic_schedule():
    torch.manual_seed(6)
    model = wiring.sparsify(nn.Sequential(nn.Linear(50, 40)), 1.0)
    (site,) = wiring.sites(model)
    rule = MagnitudePruning(0.1, begin=0.0, end=0.5, every=10, total_steps=200)
    counts = {}
    for step in range(200):
        before = site.mask.clone()
        rule.step(model, step)
        assert not (site.mask & ~before).any()  # a pruned weight never returns
        counts[step] = site.num_real
    for step in (0, 10, 50, 90):
        d = 0.1 + 0.9 * (1 - step / 100) ** 3
        assert counts[step] == round(d * 2000)
    assert counts[100] == 200 and counts[199] == 200
    assert counts[15] == counts[10]  # only every 10 steps


def test_l1_anneal_adds_the_l1_of_the_real_weights():
    model = wiring.sparsify(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)), 1.0)
    with torch.no_grad():
        for site in wiring.sites(model):
            site.weight.fill_(-0.5)
    site = wiring.sites(model)[0]
    mask = site.mask.clone()
    mask[0, 0] = False
    site.set_mask(mask)
    rule = L1Anneal(0.5, l1=0.1, total_steps=10)
    assert float(rule.penalty(model).detach()) == pytest.approx(0.1 * 0.5 * (5 + 4))

    class Trainer:
        pass

    trainer = Trainer()
    trainer.model = model
    assert float(rule.extra_loss(trainer).detach()) == pytest.approx(0.45)


def test_registry_names_and_parameters():
    assert {
        "adaptive",
        "adaptive-deterministic",
        "rigl",
        "set",
        "magnitude",
        "l1-anneal",
        "targeted-dropout",
    } <= set(RULES)
    assert rule_parameters("rigl") == {
        "drop_fraction": 0.3,
        "every": 100,
        "until": 0.75,
        "schedule": "cosine",
        "seed": 0,
        "total_steps": None,
    }
    assert isinstance(make_rule("set", every=5), SET)
    det = make_rule("adaptive-deterministic", k=0.25)
    assert isinstance(det, AdaptiveSparsity) and math.isinf(det.g) and det.beta == 1.0
    assert make_rule("magnitude", density=0.1).density == 0.1
    assert make_rule("targeted-dropout", gamma=0.5, rho=0.95).unconstrained is True


@pytest.mark.parametrize(
    ("name", "params", "argument"),
    [
        ("unknown", {}, "rule"),
        ("rigl", {"drop_fraction": 0.0}, "drop_fraction"),
        ("rigl", {"drop_fraction": 1.5}, "drop_fraction"),
        ("rigl", {"every": 0}, "every"),
        ("rigl", {"until": 0}, "until"),
        ("rigl", {"schedule": "linear"}, "schedule"),
        ("rigl", {"droprate": 0.1}, "rigl"),
        ("set", {"seed": -1}, "seed"),
        ("adaptive", {"k": 0}, "k"),
        ("adaptive", {"alpha": 1.5}, "alpha"),
        ("adaptive", {"s": math.inf}, "s"),
        ("adaptive", {"beta": 0}, "beta"),
        ("adaptive", {"g": float("nan")}, "g"),
        ("magnitude", {}, "magnitude"),
        ("magnitude", {"density": 0}, "density"),
        ("magnitude", {"density": 0.5, "begin": 0.5, "end": 0.4}, "end"),
        ("l1-anneal", {"density": 0.5, "l1": -1}, "l1"),
        ("targeted-dropout", {"gamma": 1.0, "rho": 0.5}, "gamma"),
        ("targeted-dropout", {"gamma": 0.5, "rho": 2}, "rho"),
        ("targeted-dropout", {"gamma": 0.5, "rho": 0.5, "unconstrained": "yes"}, "unconstrained"),
    ],
)
def test_bad_rule_parameters_name_the_argument(name, params, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        make_rule(name, **params)


def test_rules_refuse_models_they_cannot_evolve():
    rule = RigL(every=1, total_steps=10)
    with pytest.raises(ValueError, match=r"^model:.*sparsify"):
        rule.step(nn.Linear(3, 3), 1)
    dnw = wiring.sparsify(nn.Sequential(nn.Linear(4, 4)), 0.5, rule="dnw")
    with pytest.raises(ValueError, match=r"^model:.*'dnw'"):
        rule.step(dnw, 1)
    fixed = wiring.sparsify(nn.Sequential(nn.Linear(4, 4)), 0.5)
    with pytest.raises(ValueError, match=r"^model:.*after loss.backward"):
        rule.step(fixed, 1)
    with pytest.raises(ValueError, match=r"^total_steps:"):
        RigL(every=1).step(fixed, 1)
    with pytest.raises(ValueError, match=r"^state:"):
        RigL().load_state_dict(SET().state_dict())


def test_adaptive_defaults_keep_each_site_near_its_target_density():
    torch.manual_seed(0)
    model = wiring.sparsify(
        nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)),
        0.2,
    )
    rule = AdaptiveSparsity(every=5, total_steps=300)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    teacher = torch.randn(20, 4)
    gen = torch.Generator().manual_seed(1)
    changed = 0
    for step in range(300):
        x = torch.randn(64, 20, generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(x), (x @ teacher).argmax(1)).backward()
        if rule.step(model, step):
            changed += 1
            reset_optimizer_state(opt, model)
        opt.step()
        for site in wiring.sites(model):
            assert 0.14 <= site.density <= 0.26, (step, site.name, site.density)
    assert changed > 50  # the wiring really moved


def test_a_registered_user_rule_is_built_by_name_and_trains_as_a_callback():
    from wiring.data import Dataset
    from wiring.evolve import RULES, Rule, register_rule
    from wiring.train import TrainConfig, train

    @register_rule("test-drop-one")
    class DropOne(Rule):
        """Every `every` steps, switch off the active weight of smallest |w| in each site."""

        def __init__(self, every: int = 2, *, seed: int = 0, total_steps: int | None = None):
            super().__init__(seed=seed, total_steps=total_steps)
            self.every = every

        def step(self, model, step):
            if step == 0 or step % self.every:
                return False
            for site in wiring.sites(model):
                mask = site.mask
                scores = torch.where(mask, site.weight.detach().abs(), math.inf).reshape(-1)
                mask.view(-1)[int(torch.argmin(scores))] = False
                site.set_mask(mask)
            self.updates += 1
            return True

    try:
        rule = make_rule("test-drop-one", every=3)
        assert isinstance(rule, DropOne) and rule.name == "test-drop-one"
        model = wiring.sparsify(nn.Sequential(nn.Flatten(), nn.Linear(6, 5)), 0.8)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 1, 6, generator=g)
        data = Dataset("toy", x, (x.sum(dim=(1, 2)) > 0).long(), x[:8], torch.zeros(8).long(), 2)
        train(model, data, TrainConfig(epochs=1, batch_size=8, progress=False), callbacks=[rule])
        assert rule.updates == 2  # steps 3 and 6 of 8
        assert wiring.sites(model)[0].num_real == 24 - 2
    finally:
        del RULES["test-drop-one"]


def test_a_registered_distribution_is_used_by_sparsify():
    from wiring.nn.sites import DISTRIBUTIONS

    DISTRIBUTIONS["test-first-half"] = lambda shapes, density: [
        math.prod(s) // 2 if i == 0 else 1 for i, s in enumerate(shapes)
    ]
    try:
        model = wiring.sparsify(_Net(), 0.5, distribution="test-first-half")
        assert [s.num_real for s in wiring.sites(model)] == [36, 1, 1, 1]
    finally:
        del DISTRIBUTIONS["test-first-half"]
