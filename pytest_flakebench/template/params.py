"""Custom queries and the parameter strategies that feed their ``?`` placeholders."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from pytest_flakebench.identifiers import check_identifier
from pytest_flakebench.sqltext import count_placeholders, writes
from pytest_flakebench.template.types import STRICT as _STRICT


class LiteralParam(BaseModel):
    """A fixed value."""

    model_config = _STRICT
    literal: str | int | float | bool | None


class ChoiceParam(BaseModel):
    """One of the listed values, uniformly."""

    model_config = _STRICT
    choice: list[str | int | float | bool] = Field(min_length=1)


class IntRangeParam(BaseModel):
    """An integer drawn uniformly from ``[lo, hi]``."""

    model_config = _STRICT
    int_range: tuple[int, int] = Field(strict=False)  # lists from TOML/JSON/YAML

    @model_validator(mode="after")
    def _ordered(self) -> IntRangeParam:
        if self.int_range[0] > self.int_range[1]:
            raise ValueError(
                f"int_range {list(self.int_range)} must be [low, high] with low <= high"
            )
        return self


class FloatRangeParam(BaseModel):
    """A float drawn uniformly from ``[lo, hi]``."""

    model_config = _STRICT
    float_range: tuple[float, float] = Field(strict=False)

    @model_validator(mode="after")
    def _ordered(self) -> FloatRangeParam:
        if self.float_range[0] > self.float_range[1]:
            raise ValueError(f"float_range {list(self.float_range)} must be [low, high]")
        return self


class DateRangeParam(BaseModel):
    """A date drawn uniformly from ``[start, end]`` (ISO dates)."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # lax: accepts "2024-01-31"
    date_range: tuple[dt.date, dt.date]


class WeightedParam(BaseModel):
    """One of the values, drawn with the given weights: ``{"weighted": {"a": 3, "b": 1}}``."""

    model_config = _STRICT
    weighted: dict[str, float] = Field(min_length=1)

    @model_validator(mode="after")
    def _positive(self) -> WeightedParam:
        if any(w < 0 for w in self.weighted.values()) or not sum(self.weighted.values()) > 0:
            raise ValueError(f"weighted {self.weighted} needs weights >= 0 with a positive sum")
        return self


class SampleParam(BaseModel):
    """A value drawn from a column of the target table, sampled once before the run."""

    model_config = _STRICT
    sample: str  # column name
    size: int = Field(default=1000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _column(self) -> SampleParam:
        check_identifier(self.sample, what="sample column")
        return self


class OffsetParam(BaseModel):
    """An earlier parameter plus an offset drawn from a range (days for dates).

    ``{"offset": [0, 30], "from": 0}``: the value of parameter 0 plus 0..30.
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid", populate_by_name=True)
    offset: tuple[float, float] = Field(strict=False)
    from_: int = Field(alias="from", ge=0)


class KeyParam(BaseModel):
    """An existing key of the table's key column, drawn like a point lookup's key."""

    model_config = _STRICT
    key: Literal[True]


_STRATEGIES: dict[str, str] = {
    "literal": "literal",
    "choice": "choice",
    "int_range": "int_range",
    "float_range": "float_range",
    "date_range": "date_range",
    "weighted": "weighted",
    "sample": "sample",
    "offset": "offset",
    "key": "key",
}


def _strategy_of(value: Any) -> str | None:
    # Pick the model by the one key the user wrote, so an error names that strategy only.
    if isinstance(value, dict):
        found = [k for k in value if k in _STRATEGIES]
        return found[0] if len(found) == 1 else None
    for name in _STRATEGIES:
        if hasattr(value, name):
            return name
    return None


ParamSpec = Annotated[
    Annotated[LiteralParam, Tag("literal")]
    | Annotated[ChoiceParam, Tag("choice")]
    | Annotated[IntRangeParam, Tag("int_range")]
    | Annotated[FloatRangeParam, Tag("float_range")]
    | Annotated[DateRangeParam, Tag("date_range")]
    | Annotated[WeightedParam, Tag("weighted")]
    | Annotated[SampleParam, Tag("sample")]
    | Annotated[OffsetParam, Tag("offset")]
    | Annotated[KeyParam, Tag("key")],
    Discriminator(
        _strategy_of,
        custom_error_type="param_strategy",
        custom_error_message=(
            "a parameter is a mapping with one strategy key: literal, choice, int_range, "
            "float_range, date_range, weighted, sample, offset or key "
            "(e.g. {'int_range': [1, 100]})"
        ),
    ),
]


class CustomQuery(BaseModel):
    """A named query with ``?`` placeholders, a weight and one strategy per placeholder."""

    model_config = _STRICT

    sql: str = Field(min_length=1)
    weight: float | None = Field(default=None, ge=0, le=100)
    operation: Literal["read", "write"] = "read"
    params: list[ParamSpec] = Field(default_factory=list)
    # "row": each execution must return or affect a row; one that touches none is a miss
    expect: Literal["any", "row"] = "any"

    @model_validator(mode="after")
    def _placeholders_match(self) -> CustomQuery:
        for index, param in enumerate(self.params):
            if isinstance(param, OffsetParam) and param.from_ >= index:
                raise ValueError(f"params[{index}] offsets params[{param.from_}], which is not an "
                                 f"earlier parameter: 'from' must be below {index}")
        if self.operation == "read" and writes(self.sql):
            raise ValueError("the SQL writes but operation is 'read': declare "
                             "operation='write' (reads and writes are judged apart)")
        found = count_placeholders(self.sql)
        if found != len(self.params):
            raise ValueError(
                f"the SQL has {found} '?' placeholder(s) but {len(self.params)} param "
                f"strategy(ies) are given: give exactly one entry in params per '?'"
            )
        return self
