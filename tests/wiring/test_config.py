"""TOML configs: validation errors name the dotted key; --set overrides are TOML values."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from wiring import config
from wiring.config import ConfigError, ExperimentConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


def test_defaults_are_the_paper_tiny_classifier():
    cfg = config.loads("")
    assert cfg == ExperimentConfig()
    m = cfg.model
    assert (m.num_nodes, m.num_inputs, m.num_outputs, m.k, m.steps) == (800, 32, 100, 32_000, 5)
    assert (m.method, m.rtol, m.atol, m.norm) == ("dopri5", 1e-3, 1e-3, "instance")
    assert cfg.train.optimizer == "sgd" and cfg.train.scheduler == "cosine"


def test_values_are_read_and_frozen():
    cfg = config.loads(
        'seed = 7\n[data]\nname = "digits"\n[model]\ndynamics = "continuous"\nk = 100\n'
        "[train]\nepochs = 3\nlr = 1\n"
    )
    assert cfg.seed == 7 and cfg.data.name == "digits"
    assert cfg.model.dynamics == "continuous" and cfg.model.k == 100
    assert cfg.train.epochs == 3
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)  # an int is a valid float
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[train]\nepoch = 2\n", "train.epoch"),
        ("sed = 1\n", "sed"),
        ("[modle]\nk = 1\n", "modle"),
        ("[model]\nkk = 1\n", "model.kk"),
    ],
)
def test_unknown_key_names_the_key(text, key):
    with pytest.raises(ConfigError, match=rf"^{key}: unknown key"):
        config.loads(text)


@pytest.mark.parametrize(
    ("text", "key", "found"),
    [
        ('[train]\nepochs = "ten"\n', "train.epochs", "'ten'"),
        ("[train]\nepochs = 2.5\n", "train.epochs", "2.5"),
        ("[train]\nepochs = true\n", "train.epochs", "True"),
        ('[train]\nlr = "fast"\n', "train.lr", "'fast'"),
        ("[train]\nnesterov = 1\n", "train.nesterov", "1"),
        ("[model]\ndynamics = 3\n", "model.dynamics", "3"),
        ("seed = 1.0\n", "seed", "1.0"),
        ('train = "x"\n', "train", "'x'"),
    ],
)
def test_wrong_type_names_the_key(text, key, found):
    with pytest.raises(ConfigError, match=rf"^{key}: expected .*found {found}") as info:
        config.loads(text)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[train]\nepochs = 0\n", "train.epochs"),
        ("[train]\nlr = 0.0\n", "train.lr"),
        ("[train]\nlr = -0.1\n", "train.lr"),
        ("[train]\nmomentum = 1.0\n", "train.momentum"),
        ("[train]\nweight_decay = -1e-4\n", "train.weight_decay"),
        ("[train]\nlabel_smoothing = 1.0\n", "train.label_smoothing"),
        ('[train]\noptimizer = "rmsprop"\n', "train.optimizer"),
        ("[train]\nlr = inf\n", "train.lr"),
        ("seed = -1\n", "seed"),
        ('[model]\ndynamics = "recurrent"\n', "model.dynamics"),
        ('[model]\nselection = "lottery"\n', "model.selection"),
        ('[model]\nmethod = "dopri"\n', "model.method"),
        ("[model]\nk = 0\n", "model.k"),
        ("[model]\nsteps = 0\n", "model.steps"),
        ("[model]\nrtol = 0.0\n", "model.rtol"),
        ("[model]\nstem_stride = 3\n", "model.stem_stride"),
        ('[data]\nname = "mnist"\n', "data.name"),
        ("[analysis]\nevery = -1\n", "analysis.every"),
    ],
)
def test_out_of_range_names_the_key(text, key):
    with pytest.raises(ConfigError, match=rf"^{key}: expected"):
        config.loads(text)


def test_k_above_the_candidate_count():
    # Static blocks 4 | 8 8 | 4: candidates (24^2 - (16 + 64 + 64 + 16)) / 2 = 208.
    base = "[model]\nnum_nodes = 24\nnum_inputs = 4\nnum_outputs = 4\nblock_size = 8\n"
    assert config.loads(base + "k = 208\n").model.k == 208
    with pytest.raises(ConfigError, match=r"^model\.k: expected at most the 208 "):
        config.loads(base + "k = 209\n")
    # Dynamic: the complete digraph without self-loops has 24 * 23 = 552 candidates.
    dyn = base + 'dynamics = "discrete"\n'
    assert config.loads(dyn + "k = 552\n").model.k == 552
    with pytest.raises(ConfigError, match=r"^model\.k: expected at most the 552 "):
        config.loads(dyn + "k = 553\n")


def test_inputs_and_outputs_must_fit():
    with pytest.raises(ConfigError, match=r"^model\.num_nodes: expected at least"):
        config.loads("[model]\nnum_nodes = 10\nnum_inputs = 6\nnum_outputs = 5\nk = 1\n")


def test_cifar10_needs_a_root():
    with pytest.raises(ConfigError, match=r"^data\.root"):
        config.loads('[data]\nname = "cifar10"\n')


def test_invalid_toml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.loads("[train\n")


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("train.epochs=4", "train.epochs", 4),
        ("seed=1", "seed", 1),
        ('model.dynamics="discrete"', "model.dynamics", "discrete"),
        ("model.dynamics=discrete", "model.dynamics", "discrete"),
        ("train.lr=0.05", "train.lr", 0.05),
        ("train.nesterov=true", "train.nesterov", True),
        (" train.epochs = 4 ", "train.epochs", 4),
        ("data.root=/some/dir", "data.root", "/some/dir"),
        ("data.root=a=b", "data.root", "a=b"),
    ],
)
def test_parse_override(text, key, value):
    assert config.parse_override(text) == (key, value)
    assert type(config.parse_override(text)[1]) is type(value)


@pytest.mark.parametrize("text", ["train.epochs", "=4", "train..epochs=4", ".x=1"])
def test_malformed_override(text):
    with pytest.raises(ConfigError, match="--set"):
        config.parse_override(text)


def test_overrides_apply_and_are_validated():
    cfg = config.loads(
        "[train]\nepochs = 10\n",
        overrides=["train.epochs=4", "seed=1", "model.dynamics=continuous"],
    )
    assert (cfg.train.epochs, cfg.seed, cfg.model.dynamics) == (4, 1, "continuous")
    with pytest.raises(ConfigError, match=r"^train\.epochs: expected"):
        config.loads("", overrides=["train.epochs=0"])
    with pytest.raises(ConfigError, match=r"^train\.epochz: unknown key"):
        config.loads("", overrides=["train.epochz=3"])
    with pytest.raises(ConfigError, match=r"^seed: is a value, not a table"):
        config.loads("seed = 1\n", overrides=["seed.x=3"])


def test_model_section_is_the_tiny_classifier_sizes_plus_the_choices():
    from wiring.models import TinyClassifierSizes

    # One list of fields: [model] inherits every field of TinyClassifierSizes (same defaults and
    # ranges) and adds which model, formulation, dynamics and selection rule.
    assert issubclass(config.ModelConfig, TinyClassifierSizes)
    sizes = {f.name: f for f in dataclasses.fields(TinyClassifierSizes)}
    model = {f.name: f for f in dataclasses.fields(config.ModelConfig)}
    assert set(model) - set(sizes) == {"name", "formulation", "dynamics", "selection"}
    for name, f in sizes.items():
        if name != "graph_seed":  # the config's default is the experiment's seed
            assert model[name].default == f.default, name
    # [train] is TrainConfig itself.
    from wiring.train import TrainConfig

    assert config.TrainSection is TrainConfig
    assert isinstance(config.loads("[train]\nepochs = 3\n").train, TrainConfig)


def test_optional_model_keys_are_none_when_left_out():
    cfg = config.loads('seed = 5\n[model]\nnorm = "none"\n')
    kw = cfg.model.overrides(cfg.seed)
    assert kw["norm"] == "none"
    assert kw["step_size"] is None and kw["pool_window"] is None and kw["weight_scale"] is None
    assert kw["graph_seed"] == 5  # left out: the experiment's seed
    kw = config.loads(
        "[model]\ngraph_seed = 2\nstep_size = 0.25\npool_window = 3\n"
    ).model.overrides(5)
    assert (kw["graph_seed"], kw["step_size"], kw["pool_window"]) == (2, 0.25, 3)
    from wiring.models import TinyClassifierSizes

    assert set(kw) - {"dynamics", "selection", "formulation"} == {
        f.name for f in dataclasses.fields(TinyClassifierSizes)
    }


def test_older_configs_spelling_none_as_zero_still_load():
    old = "[model]\nstep_size = 0\npool_window = 0\nweight_scale = 0.0\ngraph_seed = -1\n"
    m = config.loads("seed = 4\n" + old).model
    assert (m.step_size, m.pool_window, m.weight_scale, m.graph_seed) == (None, None, None, None)
    assert m.sizes(4).graph_seed == 4
    # Only the exact old spelling means None; other values out of range are refused.
    with pytest.raises(ConfigError, match=r"^model\.pool_window: expected an integer >= 1 or None"):
        config.loads("[model]\npool_window = -2\n")
    with pytest.raises(ConfigError, match=r"^model\.graph_seed: expected an integer >= 0 or None"):
        config.loads("[model]\ngraph_seed = -3\n")


@pytest.mark.parametrize(
    "text",
    [
        "seed = 2\n[model]\nk = 123\n",
        "[model]\nstep_size = 0.5\npool_window = 2\ngraph_seed = 7\nweight_scale = 0.1\n",
        '[model]\nnorm = "none"\n[data]\nname = "digits"\n[train]\nnesterov = true\n',
    ],
)
def test_resolved_config_round_trips_through_toml(text):
    from wiring._io import dump_toml

    cfg = config.loads(text)
    written = dump_toml(cfg.to_dict())
    assert "None" not in written and "null" not in written
    assert config.from_dict(tomllib.loads(written)) == cfg


def test_ode_methods_are_torchdiffeq_s_own():
    import importlib

    import torch

    import wiring
    from wiring import generators

    solvers = set(importlib.import_module("torchdiffeq._impl.odeint").SOLVERS)
    # The three that the hand-kept copy lacked pass both the config and compile.
    for method in ("heun2", "fixed_adams", "scipy_solver"):
        assert method in solvers
        assert config.loads(f'[model]\nmethod = "{method}"\n').model.method == method
    g = generators.complete_digraph(4, inputs=[0], outputs=[3], seed=0)
    model = wiring.compile(g, dynamics="continuous", spatial_dims=0, method="heun2", norm=None)
    assert model(torch.ones(2, 1)).shape == (2, 1)
    # And an unknown name is refused by both with the same list.
    with pytest.raises(ConfigError) as from_config:
        config.loads('[model]\nmethod = "leapfrog"\n')
    with pytest.raises(ValueError) as from_compile:
        wiring.compile(g, dynamics="continuous", method="leapfrog")
    listed = ", ".join(repr(m) for m in sorted(solvers))
    assert listed in str(from_config.value) and listed in str(from_compile.value)


def test_selection_names_come_from_the_registry(monkeypatch):
    from wiring.models import tiny_classifier
    from wiring.nn import selection as sel

    assert "fixed" in sel.SELECTIONS  # used by the tiny classifier's "random" baseline only
    with pytest.raises(ConfigError, match=r"^model\.selection: expected one of .*found 'fixed'"):
        config.loads('[model]\nselection = "fixed"\n')
    with pytest.raises(ConfigError, match="lottery"):
        config.loads('[model]\nselection = "lottery"\n')

    class Lottery(sel.TopK):  # a user rule: as DNW's top-k, registered under another name
        name = "lottery"

    monkeypatch.setitem(sel.SELECTIONS, "lottery", Lottery)
    assert config.loads('[model]\nselection = "lottery"\n').model.selection == "lottery"
    model = tiny_classifier(
        selection="lottery", spatial_dims=0, in_channels=3, num_classes=2, **SMALL_MODEL
    )
    assert isinstance(model.graph_module.selection, Lottery)
    assert model.graph().num_edges == SMALL_MODEL["k"]


SMALL_MODEL = {"num_nodes": 12, "num_inputs": 2, "num_outputs": 2, "block_size": 4, "k": 10}


def test_config_and_options_import_no_torch():
    # Checking the model's `method` and `selection` reads torch-side registries (torchdiffeq's
    # solver table, the selection rules); importing, and the other option objects, do not.
    import subprocess
    import sys

    code = (
        "import sys, wiring.config, wiring.options, wiring.errors; "
        "wiring.options.TrainConfig(epochs=2); wiring.config.DataConfig(seed=1); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_apply_overrides_leaves_the_input_alone():
    mapping = {"train": {"epochs": 10}}
    out = config.apply_overrides(mapping, ["train.epochs=2"])
    assert out == {"train": {"epochs": 2}} and mapping == {"train": {"epochs": 10}}


def test_load_file(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[data]\nname = "cifar10"\nroot = "cifar"\n[train]\nepochs = 2\n')
    cfg = config.load(path, overrides=["train.epochs=3"])
    assert cfg.train.epochs == 3
    assert Path(cfg.data.root) == (tmp_path / "cifar").resolve()  # relative to the config file
    with pytest.raises(FileNotFoundError, match="config file not found"):
        config.load(tmp_path / "missing.toml")
    path.write_text("[train]\nepochs = 0\n")
    with pytest.raises(ConfigError, match=r"^train\.epochs: .*exp\.toml"):
        config.load(path)


@pytest.mark.parametrize(
    "name",
    [
        "static_mnist1d",
        "discrete_mnist1d",
        "continuous_mnist1d",
        "static_mnist1d_random",
        "discrete_mnist1d_random",
        "continuous_mnist1d_random",
    ],
)
def test_example_configs_are_valid(name):
    cfg = config.load(EXAMPLES / f"{name}.toml")
    dynamics = name.split("_")[0]
    assert cfg.model.dynamics == dynamics
    assert cfg.model.selection == ("random" if name.endswith("_random") else "dnw")
    assert cfg.data.name == "mnist1d"
    # The demo's recipe, exactly: `wiring train` on this file with seed 0 is the demo's run.
    from wiring.recipes import DEMO_MODEL, DEMO_TRAIN

    assert cfg.seed == 0
    assert cfg.model.sizes(cfg.seed) == DEMO_MODEL
    assert cfg.train == DEMO_TRAIN
