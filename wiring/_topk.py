"""The one definition of top-k selection and its tie rule (numpy, no torch).

Every "keep the k largest" in the package follows this rule: :meth:`wiring.NeuralGraph.with_top_k`
calls :func:`top_k_mask` directly, and :func:`wiring.nn.selection.top_k_mask` (torch) calls it on
the CPU and runs the same three steps with torch operations elsewhere.

The rule, for scores :math:`s_0, \\dots, s_{m-1}` and :math:`0 < k < m`:

1. :math:`t` = the k-th largest score (an order statistic, found in O(m) by introselect);
2. every :math:`i` with :math:`s_i > t` is selected;
3. the remaining :math:`k - |\\{i : s_i > t\\}|` places go to the *lowest indices* with
   :math:`s_i = t`.

The result equals the first ``k`` entries of a stable descending sort (``np.argsort(-s,
kind="stable")[:k]``) without sorting.
"""

from __future__ import annotations

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
    threshold = np.partition(score, m - k)[m - k]  # step 1: the k-th largest
    mask = score > threshold  # step 2
    missing = k - int(np.count_nonzero(mask))
    if missing:  # step 3: ties at the threshold, lowest indices first
        mask[np.flatnonzero(score == threshold)[:missing]] = True
    return mask
