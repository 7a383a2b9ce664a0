"""The scalar types of the configuration models: durations, sizes, ClassAd expressions,
bounded counts and names, and the frozen base model every section derives from."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from aglidein.classad.facade import ExprSyntaxError, parse_expr
from aglidein.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "MAX_COUNT",
    "MAX_DURATION_S",
    "MAX_SIZE",
    "AttrScalar",
    "ClassAdExpr",
    "ClassAdInt",
    "ConfigModel",
    "Duration",
    "Name",
    "NonNegInt",
    "PosInt",
    "Size",
]

# Upper bounds: a number beyond these is a typo or an attack, never a setting.
MAX_COUNT = 10_000_000  # glideins, jobs, records per second, cycles
MAX_DURATION_S = 10 * 365 * 86400.0
MAX_SIZE = 1 << 50  # 1 PiB

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(le=MAX_DURATION_S),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"}),
]
Size = Annotated[
    int,
    BeforeValidator(parse_size),
    Field(le=MAX_SIZE),
    PlainSerializer(format_size, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?\s*[KMGT]?i?B?$"}),
]


def _check_expr(text: str) -> str:
    try:
        parse_expr(text)
    except ExprSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return text


ClassAdExpr = Annotated[
    str,
    BeforeValidator(lambda v: _check_expr(v) if isinstance(v, str) else v),
    WithJsonSchema({"type": "string", "description": "a ClassAd expression"}),
]
NonNegInt = Annotated[int, Field(ge=0, le=MAX_COUNT)]
PosInt = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=128)]
ClassAdInt = Annotated[int, Field(ge=-(1 << 63), le=(1 << 63) - 1)]  # a ClassAd integer
AttrScalar = str | ClassAdInt | float | bool


class ConfigModel(BaseModel):
    """Frozen, unknown keys rejected, defaults validated, no inf/nan."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )
