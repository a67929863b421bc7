"""Rules as callbacks of wiring.train: a RigL run, and kill/resume equivalence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import wiring
from wiring.data import Dataset
from wiring.evolve import L1Anneal, RigL, TargetedDropout
from wiring.train import TrainConfig, Trainer, train


def _data() -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(384, 1, 12, generator=g)
    teacher = torch.randn(12, 3, generator=g)
    y = (x.flatten(1) @ teacher).argmax(dim=1)
    return Dataset("toy", x[:320], y[:320], x[320:], y[320:], num_classes=3)


def _mlp() -> nn.Module:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
    )
    return wiring.sparsify(model, 0.3, seed=2)


CONFIG = TrainConfig(epochs=2, batch_size=32, lr=0.1, progress=False)


def test_rigl_trains_an_mlp_through_the_trainer():
    model = _mlp()
    counts = [s.num_real for s in wiring.sites(model)]
    masks = [s.mask.clone() for s in wiring.sites(model)]
    rule = RigL(drop_fraction=0.3, every=4)

    class Check:
        def on_step_end(self, trainer, step, loss):
            for site, count in zip(wiring.sites(trainer.model), counts, strict=True):
                assert site.num_real == count
                mask = site.mask
                assert torch.all(site.weight[~mask] == 0)
                momentum = trainer.optimizer.state[site.weight]["momentum_buffer"]
                assert torch.all(momentum[~mask] == 0)

    config = TrainConfig(epochs=3, batch_size=32, lr=0.5, progress=False)
    history = train(model, _data(), config, callbacks=[rule, Check()])
    assert rule.total_steps == 30 and rule.updates == 5  # steps 4, 8, ..., 20 (< 0.75 * 30)
    assert any(not torch.equal(m, s.mask) for m, s in zip(masks, wiring.sites(model), strict=True))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.5  # chance is 1/3


class _Stop(RuntimeError):
    pass


class _KillAt:
    """Raises at the first step of epoch 1 (the checkpoint of epoch 0 is written by then)."""

    def __init__(self, step: int | None) -> None:
        self.at = step

    def on_step_end(self, trainer, step, loss):
        if step == self.at:
            raise _Stop


@pytest.mark.parametrize(
    "make",
    [
        lambda: RigL(drop_fraction=0.5, every=3, until=1.0),
        lambda: L1Anneal(0.1, l1=1e-3, every=2),
        lambda: TargetedDropout(0.5, 0.5, seed=4),
    ],
)
def test_kill_and_resume_gives_the_uninterrupted_run(tmp_path, make):
    model = _mlp()
    train(model, _data(), CONFIG, run_dir=tmp_path / "a", callbacks=[make(), _KillAt(None)])
    want = {k: v.clone() for k, v in model.state_dict().items()}

    model = _mlp()
    with pytest.raises(_Stop):
        train(model, _data(), CONFIG, run_dir=tmp_path / "b", callbacks=[make(), _KillAt(10)])
    model = _mlp()  # a new process: fresh objects, everything else from the checkpoint
    trainer = Trainer(
        model, _data(), CONFIG, run_dir=tmp_path / "b", callbacks=[make(), _KillAt(None)],
        resume=True,
    )  # fmt: skip
    trainer.fit()
    got = model.state_dict()
    assert set(got) == set(want)
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)


def test_the_trainer_zeroes_optimizer_state_when_a_hook_reports_a_mask_change():
    model = _mlp()
    site = wiring.sites(model)[1]

    class DropHalfAtStep3:
        def on_after_backward(self, trainer, step):
            if step != 3:
                return None
            mask = site.mask.clone()
            mask.view(-1)[torch.nonzero(mask.view(-1)).squeeze(1)[::2]] = False
            site.set_mask(mask)
            self.off = ~mask
            return True

    hook = DropHalfAtStep3()
    trainer = Trainer(model, _data(), CONFIG, callbacks=[hook])
    trainer.fit()
    assert trainer.masks_changed_at_step == [3]
    momentum = trainer.optimizer.state[site.weight]["momentum_buffer"]
    assert torch.all(momentum[hook.off] == 0) and torch.all(site.weight[hook.off] == 0)
