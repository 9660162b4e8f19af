"""Pydantic validation errors -> one line: the dotted path, the value, what is allowed."""

from __future__ import annotations

import re
import reprlib
import types
import typing
from typing import Union

from pydantic import BaseModel, ValidationError

from cnnlab.config.schema import Config
from cnnlab.errors import did_you_mean



def format_validation_error(exc: ValidationError) -> tuple[str, str]:
    """(dotted path, one-line problem) for the first error: the value and what is allowed."""
    errors = exc.errors()
    first = errors[0]
    loc = first["loc"]
    path = _dotted(loc)
    kind = first["type"]
    given = first.get("input")
    # A union field (e.g. "auto" | bool) fails once per member at the same path: one problem.
    same_path = [e for e in errors if _dotted(e["loc"]) == path]
    others = len(errors) - len(same_path)
    more = f" (and {others} more problem{'s' * (others > 1)})" if others else ""
    if kind == "invalid_key" or (loc and loc[-1] == "[key]"):  # YAML allows 1: or true: as keys
        where = loc[:-1] if kind == "invalid_key" else loc[:-2]
        return _dotted(where), f"key {_short(given)} is not a string; keys are names such as batch_size{more}"
    if kind == "extra_forbidden":
        allowed = list(_section_at(loc[:-1]).model_fields)
        name = str(loc[-1])
        refused = getattr(_section_at(loc[:-1]), "REFUSED_KEYS", {}).get(name)
        if refused:  # a known key from another tool: say why it is not here and what to use
            return path, f"{refused}{more}"
        hint = did_you_mean(name, allowed)
        return path, f"unknown key{hint}; allowed keys here: {', '.join(allowed)}{more}"
    if kind in ("literal_error", "enum"):
        expected = [
            value for e in same_path if e["type"] in ("literal_error", "enum")
            for value in _literal_choices(e.get("ctx", {}).get("expected", ""))
        ]  # fmt: skip
        hint = did_you_mean(_short(given).strip("'"), expected)
        expected += ["true", "false"] if any(e["type"].startswith("bool") for e in same_path) else []
        return path, f"{_short(given)} is not allowed{hint}; choose one of: {', '.join(expected)}{more}"
    if kind == "model_type" or kind == "dict_type":
        return path, f"expected a mapping of keys, got {_type_name(given)} {_short(given)}{more}"
    message = first["msg"][0].lower() + first["msg"][1:]
    return path, f"{message}, got {_short(given)}{more}"


def _literal_choices(expected: str) -> list[str]:
    """pydantic's "'auto', 0, 1 or 2" -> ['auto', '0', '1', '2']."""
    return [m[0] or m[1] for m in re.findall(r"'([^']*)'|([^\s',]+)", re.sub(r"\s+or\s+", ", ", expected))]


def _dotted(loc) -> str:
    out = ""
    for part in loc:
        # pydantic reports which Union/Literal member failed as extra loc parts ('float',
        # 'tuple[float, float]', 'literal['auto']', 'function-after[...]'); no field name looks like those.
        if isinstance(part, str) and (
            "[" in part or part.startswith("function-") or part in ("bool", "int", "str", "float", "none")
        ):
            continue
        if not isinstance(part, int) and not re.fullmatch(r"[\w-]+", str(part)):
            part = repr(str(part))  # a key such as ' ' or 'a.b' or one with a newline stays visible, on one line
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def _section_at(loc) -> type[BaseModel]:
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        sub = _model_in(field.annotation) if field else None
        if sub is None:
            break
        model = sub
    return model


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None


def _type_name(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), f"a {type(value).__name__}"
    )


_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 3, 6, 6, 6
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def _short(value) -> str:
    """A bounded repr: reprlib stops after a few items and levels, so a huge value (an
    alias bomb, a million-element list) costs nothing to show."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
