"""Trainer callback that records the graph measures of the current wiring over training."""

from __future__ import annotations

from typing import Any

from wiring.graph import HasGraph

from .structure import summary

__all__ = ["GraphMetricsCallback"]


class GraphMetricsCallback:
    """Record :func:`wiring.analysis.summary` of ``trainer.model.graph()`` every ``every`` epochs.

    Duck-typed for ``wiring.train``: the trainer calls ``on_epoch_end(trainer, epoch, metrics)``
    with ``metrics`` the dict about to be written as one line of ``run_dir/metrics.jsonl``; this
    callback adds ``metrics["graph"] = summary(trainer.model.graph())`` (JSON-serialisable numbers)
    at epochs ``0, every, 2 * every, ...`` (0-based). ``wiring analyze RUN_DIR`` then plots each
    measure over training (as in fig. 5 of the adaptive-sparsity paper).

    Parameters
    ----------
    every : int
        Record every ``every`` epochs (>= 1); epoch 0 is always recorded.
    samples : int, optional
        Passed to :func:`~wiring.analysis.average_shortest_path_length` (``None``: exact up to
        5,000 nodes, 256 sampled sources above).

    Examples
    --------
    >>> import networkx as nx
    >>> class Model:
    ...     def graph(self):
    ...         return nx.path_graph(3)
    >>> class Trainer:
    ...     model = Model()
    >>> cb, metrics = GraphMetricsCallback(every=2), {"epoch": 0}
    >>> cb.on_epoch_end(Trainer(), 0, metrics)
    >>> metrics["graph"]["clustering"], metrics["graph"]["average_shortest_path_length"]
    (0.0, 1.3333333333333333)
    >>> later = {"epoch": 1}
    >>> cb.on_epoch_end(Trainer(), 1, later)
    >>> "graph" in later
    False
    """

    def __init__(self, every: int = 1, *, samples: int | None = None) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected a positive integer, found {every!r}")
        self.every = every
        self.samples = samples

    def __repr__(self) -> str:
        return f"GraphMetricsCallback(every={self.every})"

    def on_train_start(self, trainer: Any) -> None:
        """Nothing to do before training."""

    def on_step_end(self, trainer: Any, step: int, loss: Any) -> None:
        """Nothing to do per step."""

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Add ``metrics["graph"]`` (the summary of the current wiring) on recorded epochs."""
        if epoch % self.every != 0:
            return
        model = getattr(trainer, "model", None)
        if not isinstance(model, HasGraph):
            raise TypeError(
                "trainer: expected trainer.model.graph() to return the current NeuralGraph, "
                f"found model {type(model).__name__}"
            )
        measures = summary(model.graph(), samples=self.samples)
        metrics["graph"] = {
            k: (float(v) if isinstance(v, float) else int(v)) for k, v in measures.items()
        }

    def on_train_end(self, trainer: Any) -> None:
        """Nothing to do after training."""
