"""The one definition of top-k selection and its tie rule (numpy, no torch).

Every "keep the k largest" in the package follows this rule: :meth:`wiring.NeuralGraph.with_top_k`
calls :func:`top_k_mask` directly, and :func:`wiring.nn.selection.top_k_mask` (torch) calls it on
the CPU and runs the same three steps with torch operations elsewhere.

The rule, for scores :math:`s_0, \\dots, s_{m-1}` and :math:`0 < k < m`:

1. :math:`t` = the k-th largest score (an order statistic, found by introselect, not a sort);
2. every :math:`i` with :math:`s_i > t` is selected;
3. the remaining :math:`k - |\\{i : s_i > t\\}|` places go to the *lowest indices* with
   :math:`s_i = t`.

The result equals the first ``k`` entries of a stable descending sort (``np.argsort(-s,
kind="stable")[:k]``) without sorting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["top_k_mask"]


def top_k_mask(score: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest entries of ``score``; among ties the lower index wins.

    Parameters
    ----------
    score : numpy array, shape (m,)
        Scores (finite).
    k : int
        How many to select; ``k <= 0`` selects none and ``k >= m`` all.

    Returns
    -------
    numpy array of bool, shape (m,)
        Exactly ``min(max(k, 0), m)`` entries are True.

    Examples
    --------
    >>> top_k_mask(np.array([1.0, 3.0, 2.0, 3.0]), 2)
    array([False,  True, False,  True])
    >>> top_k_mask(np.array([1.0, 1.0, 1.0]), 2)
    array([ True,  True, False])
    """
    score = np.asarray(score)
    m = score.shape[0]
    if k <= 0:
        return np.zeros(m, dtype=bool)
    if k >= m:
        return np.ones(m, dtype=bool)
    threshold = _kth_largest(score, k)  # step 1
    mask = score > threshold  # step 2
    missing = k - int(np.count_nonzero(mask))
    if missing:  # step 3: ties at the threshold, lowest indices first
        mask[np.flatnonzero(score == threshold)[:missing]] = True
    return mask


def _kth_largest(score: np.ndarray, k: int) -> Any:
    """The k-th largest entry of ``score`` (``0 < k < m``), by selection rather than a full sort.

    numpy's introselect slows down by an order of magnitude on many equal values (1M float64
    values of which 90% are 0: 230 ms instead of 13 ms), which is what magnitudes and gradients
    of sparse layers look like. When a sample of about 1,000 entries shows repeated values, the
    entries equal to the minimum are set aside first and, if the rest still repeats, a sort
    replaces the selection (the result is the same order statistic either way).
    """
    m = score.shape[0]
    sample = score[:: max(1, m // 1024)]
    if np.unique(sample).shape[0] == sample.shape[0]:  # no ties seen: introselect is fast
        return np.partition(score, m - k)[m - k]
    low = score.min()
    above = score > low
    n_above = int(np.count_nonzero(above))
    if k > n_above:
        return low
    rest = score[above] if n_above < m else score
    sample = rest[:: max(1, rest.shape[0] // 1024)]
    if np.unique(sample).shape[0] < sample.shape[0] // 2:
        return np.sort(rest)[rest.shape[0] - k]
    return np.partition(rest, rest.shape[0] - k)[rest.shape[0] - k]
