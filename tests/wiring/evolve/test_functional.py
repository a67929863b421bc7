"""The pure update functions against hand-computed drop/grow sets and independent rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wiring.evolve.functional import (
    adaptive_update,
    cubic_density,
    drop_fraction,
    keep_largest,
    rigl_update,
    set_update,
    targeted_candidates,
)


def test_rigl_hand_computed_drop_and_grow():
    # active: 0 (0.5), 1 (-0.1), 4 (0.3), 5 (0.2); inactive: 2, 3, 6, 7
    w = torch.tensor([0.5, -0.1, 0.0, 0.0, 0.3, 0.2, 0.0, 0.0])
    g = torch.tensor([9.0, 9.0, 0.4, -0.7, 0.0, 0.0, 0.1, -0.4])
    m = torch.tensor([True, True, False, False, True, True, False, False])
    new_mask, new_w = rigl_update(w, g, m, 2)
    # drop the two smallest |w| among active: 1 (0.1) and 5 (0.2)
    # grow the two largest |g| among {1, 2, 3, 5, 6, 7}: 1 (9.0) and 3 (0.7)
    assert new_mask.tolist() == [True, True, False, True, True, False, False, False]
    # 1 was dropped and grown again: it keeps its weight; 3 is new and starts at 0
    assert new_w.tolist() == pytest.approx([0.5, -0.1, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0])


def test_rigl_ties_drop_the_higher_index_and_grow_the_lower():
    w = torch.tensor([[0.2, 0.2], [0.2, 0.0]])
    g = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    m = torch.tensor([[True, True], [True, False]])
    new_mask, _ = rigl_update(w, g, m, 1)
    # equal |w| at 0, 1, 2: index 2 is dropped; grow the largest |g| among {2, 3}: 3
    assert new_mask.tolist() == [[True, True], [False, True]]
    w = torch.tensor([0.5, 0.0, 0.0, 0.0])
    g = torch.tensor([0.0, 0.3, 0.3, 0.3])
    new_mask, _ = rigl_update(w, g, torch.tensor([True, False, False, False]), 1)
    assert new_mask.tolist() == [False, True, False, False]  # tie in |g|: lower index grows


def test_set_drops_like_rigl_and_grows_among_the_inactive():
    torch.manual_seed(0)
    w = torch.randn(40)
    m = torch.zeros(40, dtype=torch.bool)
    m[torch.randperm(40)[:10]] = True
    w = w * m
    new_mask, new_w = set_update(w, m, 4, torch.Generator().manual_seed(3))
    active = torch.nonzero(m).squeeze(1)
    smallest = active[torch.argsort(w[active].abs(), stable=True)[:4]]
    dropped = torch.zeros(40, dtype=torch.bool)
    dropped[smallest] = True
    assert int(new_mask.sum()) == 10
    assert torch.all(new_mask[m & ~dropped])  # the others stay
    assert not (new_mask & m & dropped & (new_w != w)).any()  # regrown ones keep their weight
    grown = new_mask & ~m
    assert torch.all(new_w[grown] == 0) and torch.all(new_w[~new_mask] == 0)
    # same generator state, same draw
    again, _ = set_update(w, m, 4, torch.Generator().manual_seed(3))
    assert torch.equal(again, new_mask)


def test_keep_largest_clips_and_stays_inside_the_mask():
    score = torch.tensor([5.0, 4.0, 3.0, 2.0])
    mask = torch.tensor([False, True, True, False])
    assert keep_largest(score, mask, 10).tolist() == [False, True, True, False]
    assert keep_largest(score, mask, 0).tolist() == [False] * 4


def test_schedules():
    assert drop_fraction(0, 0.3, 100, "cosine") == pytest.approx(0.3)
    assert drop_fraction(25, 0.3, 100, "cosine") == pytest.approx(
        0.15 * (1 + math.cos(math.pi / 4))
    )
    assert drop_fraction(100, 0.3, 100, "cosine") == 0.0
    assert drop_fraction(60, 0.3, 100, "constant") == 0.3
    assert cubic_density(10, 1.0, 0.1, 10, 110) == 1.0
    assert cubic_density(60, 1.0, 0.1, 10, 110) == pytest.approx(0.1 + 0.9 * 0.5**3)
    assert cubic_density(500, 1.0, 0.1, 10, 110) == 0.1


def test_targeted_candidates_regular_and_unconstrained():
    w = torch.tensor([[0.1, -0.9, 0.4, 0.5], [0.8, 0.05, 0.7, 0.6], [0.3, 0.2, 0.0, 0.0]])
    m = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    # unconstrained: round(0.25 * 10) = 2 smallest active: 0.05 and 0.1
    got = targeted_candidates(w, m, 0.25)
    assert torch.nonzero(got).tolist() == [[0, 0], [1, 1]]
    # regular: per row round(0.25 * 4) = 1, round(0.25 * 2) = 0 (0.5 rounds to even)
    rows = torch.arange(3).view(3, 1).expand(3, 4)
    got = targeted_candidates(w, m, 0.25, rows)
    assert torch.nonzero(got).tolist() == [[0, 0], [1, 1]]
    got = targeted_candidates(w, m, 0.5, rows)  # 2, 2, 1 per row
    assert torch.nonzero(got).tolist() == [[0, 0], [0, 2], [1, 1], [1, 3], [2, 1]]


def _threshold_rule(w, g, m, k):
    """The deterministic preset written independently with numpy."""
    w, g, m = w.numpy().ravel(), g.numpy().ravel(), m.numpy().ravel()
    w_bar = np.abs(w[m]).mean()
    removed = m & (np.abs(w) < k * w_bar)
    kept = m & ~removed
    order = [i for i in np.argsort(-np.abs(g), kind="stable") if not kept[i]]
    grown = np.zeros_like(m)
    grown[order[: int(removed.sum())]] = True
    return kept | grown, grown & ~m, 2 * k * w_bar


@pytest.mark.parametrize("k", [0.25, 0.5, 1.0])
def test_deterministic_adaptive_preset_is_the_threshold_rule(k):
    torch.manual_seed(1)
    w = torch.randn(12, 9, dtype=torch.float64)
    m = torch.rand(12, 9) < 0.3
    w = w * m
    g = torch.randn(12, 9, dtype=torch.float64)
    new_mask, new_w = adaptive_update(
        w,
        g,
        m,
        torch.Generator().manual_seed(0),
        alpha=0.3,
        k=k,
        l=1.0,
        g=math.inf,
        s=math.inf,
        beta=1.0,
        beta_inactive=None,
        c_g=0.0,
        r=None,
    )
    want_mask, fresh, radius = _threshold_rule(w, g, m, k)
    assert new_mask.numpy().ravel().tolist() == want_mask.tolist()
    assert int(new_mask.sum()) == int(m.sum())  # constant count
    flat = new_w.numpy().ravel()
    old = w.numpy().ravel()
    assert np.all(flat[~want_mask] == 0)
    stay = want_mask & ~fresh
    np.testing.assert_array_equal(flat[stay], old[stay])
    assert np.all(np.abs(flat[fresh]) < radius) and np.any(flat[fresh] != 0)


def test_stochastic_adaptive_with_sharp_g_follows_both_thresholds():
    torch.manual_seed(2)
    w = torch.randn(30, 20, dtype=torch.float64)
    m = torch.rand(30, 20) < 0.4
    w = w * m
    grad = torch.randn(30, 20, dtype=torch.float64)
    new_mask, _ = adaptive_update(
        w, grad, m, torch.Generator().manual_seed(0), alpha=0.4, k=0.5, l=1.5, g=1e6, s=0.0,
        beta=1.0, beta_inactive=1.0, c_g=0.0, r=0.01,
    )  # fmt: skip
    w_bar = w[m].abs().mean()
    v_bar = grad[~m].abs().mean()
    expect = (m & (w.abs() >= 0.5 * w_bar)) | (~m & (grad.abs() > 1.5 * v_bar))
    assert torch.equal(new_mask, expect)


def test_stochastic_adaptive_removal_probability_matches_the_formula():
    # every active weight has |w| = 1 except half at 0.5; with g = 2, k = 1, s = 0, a = alpha:
    # W = 0.75, x(1) = 1/0.75 - 1, x(0.5) = 0.5/0.75 - 1, P = 1 / (1 + exp(g x))
    n = 4000
    w = torch.ones(2 * n, dtype=torch.float64)
    w[: n // 2] = 0.5
    w[n:] = 0.0
    m = torch.zeros(2 * n, dtype=torch.bool)
    m[:n] = True
    grad = torch.zeros(2 * n, dtype=torch.float64)  # no growth (zero gradient: P = 0)
    new_mask, _ = adaptive_update(
        w, grad, m, torch.Generator().manual_seed(5), alpha=0.5, k=1.0, l=1.0, g=2.0, s=0.0,
        beta=1.0, beta_inactive=1.0, c_g=0.0, r=None,
    )  # fmt: skip
    removed = m & ~new_mask
    for lo, hi, mag in ((0, n // 2, 0.5), (n // 2, n, 1.0)):
        p = 1.0 / (1.0 + math.exp(2.0 * (mag / 0.75 - 1.0)))
        frac = float(removed[lo:hi].double().mean())
        assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / (n // 2))
    assert not (new_mask & ~m).any()


def test_adaptive_growth_values_follow_c_g_and_r():
    w = torch.tensor([1.0, 0.0, 0.0])
    m = torch.tensor([True, False, False])
    grad = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float32)
    _, new_w = adaptive_update(
        w, grad, m, torch.Generator().manual_seed(0), alpha=1 / 3, k=0.1, l=0.01, g=1e6, s=0.0,
        beta=1.0, beta_inactive=1.0, c_g=-0.25, r=0.0,
    )  # fmt: skip
    assert new_w.tolist() == [1.0, -0.5, 0.0]  # C_g * dJ/dw + U(0, 0); zero gradient: not grown
