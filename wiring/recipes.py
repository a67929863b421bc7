"""Named recipes: option objects that belong together (a model's sizes and how to train it).

A recipe is a pair of option objects (:mod:`wiring.options`), so a script, a benchmark or a test
uses it through the public API: ``tiny_classifier(**dataclasses.asdict(DEMO_MODEL), ...)`` and
``train(model, data, DEMO_TRAIN)``.

=================  ================================================================================
:data:`DEMO_MODEL`  the DNW tiny classifier scaled down to run six trainings in a few minutes on two
                    cores: 256 nodes (32 inputs, 32 outputs; static blocks 32 | 64 64 64 | 32),
                    k = 3,000 real edges, 5 discrete steps, one fixed RK4 step from 0 to 1 in
                    continuous time (the paper's are 800 nodes, k = 32,000, dopri5)
:data:`DEMO_TRAIN`  Adam at lr 0.01 with cosine annealing, no weight decay, batches of 128,
                    30 epochs (converges in fewer epochs than the paper's SGD recipe)
:data:`DEMO_EPOCHS` ``DEMO_TRAIN.epochs``
=================  ================================================================================

The demo (``wiring demo``, :func:`wiring.demo.run_demo`), the example configs
``examples/configs/*_mnist1d*.toml`` and ``benchmarks/reproduce_dnw_small.py`` use this recipe; a
test checks that the example configs describe exactly it.

Examples
--------
>>> DEMO_MODEL.static_blocks(), DEMO_MODEL.k, DEMO_TRAIN.optimizer
([32, 64, 64, 64, 32], 3000, 'adam')
"""

from __future__ import annotations

from wiring.options import TinyClassifierSizes, TrainConfig

__all__ = ["DEMO_EPOCHS", "DEMO_MODEL", "DEMO_TRAIN"]

#: The demo's model: the tiny classifier's sizes, scaled down (see the module docstring).
DEMO_MODEL = TinyClassifierSizes(
    num_nodes=256,
    num_inputs=32,
    num_outputs=32,
    block_size=64,
    k=3_000,
    steps=5,
    t1=1.0,
    method="rk4",  # one fixed RK4 step from 0 to t1 (4 evaluations) instead of dopri5
)

#: The demo's training: Adam with cosine annealing.
DEMO_TRAIN = TrainConfig(
    epochs=30,
    batch_size=128,
    optimizer="adam",
    lr=0.01,
    weight_decay=0.0,
    scheduler="cosine",
)

#: Epochs of the demo's trainings.
DEMO_EPOCHS = DEMO_TRAIN.epochs
