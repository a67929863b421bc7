"""Option objects: the one validator, optional fields, TOML tables, and the two model option objects."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest

from wiring.errors import ConfigError, WiringError
from wiring.options import (
    Constraint,
    Options,
    TinyClassifierSizes,
    TrainConfig,
    check,
    from_mapping,
    option,
)


@dataclass(frozen=True)
class Inner(Options):
    depth: int = option(2, min=1, max=8)


@dataclass(frozen=True)
class Outer(Options):
    rate: float = option(0.5, min=0.0, max=1.0, min_exclusive=True)
    count: int = option(3, min=0)
    name: str = option("a", choices=("a", "b"))
    flag: bool = False
    width: int | None = option(None, min=1, none_was=0)
    inner: Inner = dataclasses.field(default_factory=Inner)

    def cross_check(self) -> None:
        if self.flag and self.count == 0:
            raise ConfigError("flag: needs count > 0, found count=0")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 2.5}, "count: expected an integer >= 0, found 2.5 (float)"),
        ({"count": True}, "count: expected an integer >= 0, found True (bool)"),
        ({"count": "3"}, "count: expected an integer >= 0, found '3' (str)"),
        ({"count": -1}, "count: expected an integer >= 0, found -1"),
        ({"rate": 0.0}, "rate: expected a finite number in (0, 1], found 0.0"),
        ({"rate": 1.5}, "rate: expected a finite number in (0, 1], found 1.5"),
        ({"rate": float("nan")}, "rate: expected a finite number in (0, 1], found nan"),
        ({"rate": False}, "rate: expected a finite number in (0, 1], found False (bool)"),
        ({"name": "c"}, "name: expected one of 'a', 'b', found 'c'"),
        ({"name": 1}, "name: expected one of 'a', 'b', found 1 (int)"),
        ({"flag": 1}, "flag: expected a bool, found 1 (int)"),
        ({"width": 0}, "width: expected an integer >= 1 or None, found 0"),
        ({"inner": {"depth": 2}}, "inner: expected an option object Inner, found a table"),
        ({"flag": True, "count": 0}, "flag: needs count > 0, found count=0"),
    ],
)
def test_each_bad_value_is_named_with_what_was_expected(kwargs, message):
    with pytest.raises(ConfigError) as info:
        Outer(**kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, WiringError) and isinstance(info.value, ValueError)


def test_values_are_converted_only_where_nothing_is_lost():
    o = Outer(rate=1, count=np.int64(4), width=np.int32(7))
    assert o.rate == 1.0 and type(o.rate) is float
    assert o.count == 4 and type(o.count) is int
    assert o.width == 7 and type(o.width) is int
    assert Outer(width=None).width is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.count = 5  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"^count:"):
        dataclasses.replace(o, count=-2)  # replace builds a new object: checked again


def test_choices_given_as_a_callable_are_read_when_checked():
    names = ["x"]
    c = Constraint(choices=lambda: tuple(names))
    with pytest.raises(ConfigError, match="expected one of 'x', found 'y'"):
        check("rule", "y", str, c)
    names.append("y")  # e.g. a rule registered after the constraint was declared
    assert check("rule", "y", str, c) == "y"


def test_an_unsupported_field_type_is_a_programming_error():
    @dataclass(frozen=True)
    class Bad(Options):
        sizes: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="unsupported option type"):
        Bad()


def test_from_mapping_names_the_dotted_key():
    o = from_mapping(Outer, {"rate": 1, "width": 0, "inner": {"depth": 5}})
    assert (o.rate, o.width, o.inner.depth) == (1.0, None, 5)  # width 0: the older None
    assert from_mapping(Outer, {}) == Outer()
    cases = [
        ({"inner": {"depth": 9}}, "outer.inner.depth: expected an integer in [1, 8], found 9"),
        ({"inner": {"dpth": 1}}, "outer.inner.dpth: unknown key; expected one of depth"),
        ({"inner": 3}, "outer.inner: expected a table, found 3 (int)"),
        ({"flag": True, "count": 0}, "outer.flag: needs count > 0, found count=0"),
        ({"width": -1}, "outer.width: expected an integer >= 1 or None, found -1"),
    ]
    for mapping, message in cases:
        with pytest.raises(ConfigError) as info:
            from_mapping(Outer, mapping, prefix="outer")
        assert str(info.value) == message
    with pytest.raises(ConfigError, match=r"^config: expected a table"):
        from_mapping(Outer, [1, 2])
    with pytest.raises(ConfigError, match=r"^width:"):
        Outer(width=0)  # the older spelling is read from files only


def test_train_config_messages():
    assert TrainConfig(lr=1).lr == 1.0
    for kwargs, message in [
        ({"lr": -1.0}, "lr: expected a finite number > 0, found -1.0"),
        ({"epochs": 0}, "epochs: expected an integer >= 1, found 0"),
        ({"momentum": 1.0}, "momentum: expected a finite number in [0, 1), found 1.0"),
        ({"optimizer": "rmsprop"}, "optimizer: expected one of 'sgd', 'adam', found 'rmsprop'"),
    ]:
        with pytest.raises(ConfigError) as info:
            TrainConfig(**kwargs)
        assert str(info.value) == message


@pytest.mark.parametrize(
    "sizes",
    [
        {},
        {"num_nodes": 24, "num_inputs": 4, "num_outputs": 4, "block_size": 8},
        {"num_nodes": 30, "num_inputs": 3, "num_outputs": 5, "block_size": 7},
        {"num_nodes": 9, "num_inputs": 4, "num_outputs": 5},  # no hidden nodes
    ],
)
@pytest.mark.parametrize("dynamics", ["static", "discrete", "continuous"])
def test_num_candidates_counts_the_graph_s_candidates(sizes, dynamics):
    from wiring.models import tiny_classifier_graph

    s = TinyClassifierSizes(**sizes)
    graph = tiny_classifier_graph(dynamics, **sizes)
    assert s.num_candidates(dynamics) == graph.num_candidates
    if dynamics == "static":  # and by brute force over the node pairs
        block = np.repeat(np.arange(len(s.static_blocks())), s.static_blocks())
        assert s.num_candidates(dynamics) == int((block[:, None] < block[None, :]).sum())


def test_k_is_checked_once_for_the_model_and_the_config():
    from wiring import config
    from wiring.models import tiny_classifier

    sizes = {"num_nodes": 24, "num_inputs": 4, "num_outputs": 4, "block_size": 8, "k": 209}
    with pytest.raises(ConfigError) as from_model:
        tiny_classifier(dynamics="static", **sizes)
    toml = "[model]\n" + "".join(f"{k} = {v}\n" for k, v in sizes.items())
    with pytest.raises(ConfigError) as from_config:
        config.loads(toml)
    assert str(from_config.value) == f"model.{from_model.value}"
    assert str(from_model.value).startswith("k: expected at most the 208 candidate edges")
