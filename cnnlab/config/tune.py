"""The ``tune:`` config section: a hyperparameter search space over dotted config keys.

    tune:
      oracle: bayesian          # random | bayesian | hyperband (Keras Tuner's oracles)
      trials: 10                # how many runs at most
      objective: val_accuracy   # val_loss | val_accuracy | loss | accuracy (default: train.monitor)
      space:
        train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
        train.optimizer.name: [adam, sgd]
        model.layers.0.filters: [16, 32, 64]
        model.layers.6.rate: {uniform: [0.1, 0.5]}
        data.batch_size: {int: [16, 128]}

Pure schema and parsing (no Keras Tuner, no TensorFlow): the config accepts and checks
the section; cnnlab.train.tune turns the parsed space into Keras Tuner hyperparameters.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SPACE_HELP = (
    "use a list of choices [a, b, c], {uniform: [low, high]}, {log_uniform: [low, high]} or {int: [low, high]}"
)
EXAMPLE = "e.g. space: {train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}}"


class TuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    oracle: Literal["random", "bayesian", "hyperband"] = "random"
    trials: int = Field(10, ge=1, le=10000, description="most trials (runs); hyperband: also bounded by its brackets")
    objective: Literal["val_loss", "val_accuracy", "loss", "accuracy"] | None = Field(
        None, description="what the search optimises (default: train.monitor)"
    )
    hyperband_factor: int = Field(3, ge=2, description="hyperband: keep 1/factor of the trials per round")
    space: dict[str, Any] = Field(default_factory=dict, description="dotted config key -> distribution")


@dataclass(frozen=True)
class Choice:
    values: tuple

    def samples(self) -> tuple:
        return self.values


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float
    log: bool = False

    def samples(self) -> tuple:
        """The ends and a value between them that is not a whole number: a float range on a
        key that takes integers fails here, not in a trial."""
        return (self.low, self.high, self.inside)

    @property
    def inside(self) -> float:
        return self.low + (self.high - self.low) * 0.3713


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int

    def samples(self) -> tuple:
        return (self.low, self.high)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pair(kind: str, value, integers: bool = False):
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_number, value))
    if ok and integers:
        ok = all(float(v).is_integer() for v in value)
    if not ok or not value[0] < value[1]:
        what = "integers" if integers else "numbers"
        raise ValueError(f"{{{kind}: {value!r}}} needs [low, high], two {what} with low < high")
    return value


def _uniform(value):
    low, high = _pair("uniform", value)
    return Uniform(float(low), float(high))


def _log_uniform(value):
    low, high = _pair("log_uniform", value)
    if low <= 0:
        raise ValueError(f"{{log_uniform: {value!r}}} needs low > 0 (a log scale has no 0)")
    return Uniform(float(low), float(high), log=True)


def _int(value):
    low, high = _pair("int", value, integers=True)
    return IntRange(int(low), int(high))


# Distribution name -> parser of its [low, high]; a new distribution is one entry.
DISTRIBUTIONS = {"uniform": _uniform, "log_uniform": _log_uniform, "int": _int}


def parse_distribution(spec):
    """A YAML value -> Choice | Uniform | IntRange, or ValueError saying what is wrong."""
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"is an empty list of choices; {SPACE_HELP}")
        kinds = {type(v) for v in spec}
        if not all(isinstance(v, (bool, int, float, str)) for v in spec):
            raise ValueError(f"choices must be numbers, strings or true/false, got {spec!r}")
        if len(kinds) > 1 and not kinds <= {int, float}:
            raise ValueError(f"choices must all be of one kind (numbers, strings or true/false), got {spec!r}")
        if len(set(spec)) != len(spec):
            raise ValueError(f"lists a choice twice: {spec!r}")
        values = tuple(float(v) for v in spec) if kinds == {int, float} else tuple(spec)
        return Choice(values)
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, value), = spec.items()
        if kind in DISTRIBUTIONS:
            return DISTRIBUTIONS[kind](value)
        close = difflib.get_close_matches(str(kind), list(DISTRIBUTIONS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown distribution {kind!r}{hint}; {SPACE_HELP}")
    raise ValueError(f"{spec!r} is not a distribution; {SPACE_HELP}")


def parse_space(space: dict) -> dict:
    """{dotted key: distribution}; raises ValueError((key, message)) for the first bad one."""
    if not space:
        raise ValueError(("", f"is empty, so there is nothing to search; add at least one key, {EXAMPLE}"))
    parsed = {}
    for key, spec in space.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ValueError((str(key), "is not a dotted config key such as train.optimizer.learning_rate"))
        try:
            parsed[key] = parse_distribution(spec)
        except ValueError as exc:
            raise ValueError((key, str(exc))) from None
    return parsed
