"""The fast path for valid bodies gives pydantic's answer or none (fast_decode.py).

Each decoder is held to pydantic on thousands of bodies, mangled from valid ones: whatever it
accepts, pydantic must accept with the same values, bit for bit. Not the other way round: what
it refuses goes to pydantic, which has the last word.
"""

import json
import random
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    create_model,
    field_validator,
)

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.fast_decode import UntranslatableError, decoder_for
from {{ cookiecutter.package_name }}.metadata import FLOAT32_MAX, BoundedFloat, ModelMetadata
from {{ cookiecutter.package_name }}.payload import FAST_DECODE, NO_FAST_DECODE_BECAUSE, beyond_float
from {{ cookiecutter.package_name }}.prediction import Matrix, to_matrix
from {{ cookiecutter.package_name }}.predictor import Features
from {{ cookiecutter.package_name }}.schemas import PredictRequest
from {{ cookiecutter.package_name }}.settings import Settings

# Number literals, valid and not, that a mangled body puts in place of a value.
NUMBERS = [
    "0", "-0", "0.0", "-0.0", "1", "1.0", "1e2", "1E+2", "2.5e-3", "-7.25", "1.5e-400", "5e-324",
    "120", "121", "-1", "0.5", "1e38", "3.4028234663852886e38", "3.4028234663852889e38", "1e39",
    "-3.4028234663852886e38", "-1e39", "1e308", "1e309", "-1e999", "9007199254740993",
    "12345678901234567890123", "1" + "0" * 40, "1" + "0" * 400, "-9223372036854775809",
    "18446744073709551616", "01", "1.", ".5", "-", "+1", "1e", "0x10", "NaN", "Infinity",
    "-Infinity", "nan", "inf",
]  # fmt: skip
OTHER_VALUES = ['"1.5"', '"x"', "true", "false", "null", "[]", "{}", "[1.5]", '{"a": 1}']
BYTES = list('{}[],:" \\\n\t0123456789eE+-.')


class StrictRow(BaseModel):
    """Rows with every kind of field the fast path translates."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    measure: BoundedFloat
    age: Annotated[int, Field(ge=0, le=120)]
    count: int
    share: Annotated[float, Field(gt=0, lt=1)]
    finite: Annotated[float, Field(allow_inf_nan=False)]
    anything: float


class LaxRow(StrictRow):
    """The same fields in pydantic's lax mode, which accepts more than the fast path does:
    "1.5" for a float, 1.0 for an int, unknown keys (ignored)."""

    model_config = ConfigDict(strict=False, extra="ignore", frozen=False)


def request_model(row: type[BaseModel]) -> type[BaseModel]:
    """A request body of rows of `row`, declared as schemas.PredictRequest is."""
    return create_model(
        f"{row.__name__}Request",
        __config__=ConfigDict(extra="forbid"),
        instances=(list[row], Field(min_length=1, fail_fast=True)),  # type: ignore[valid-type]
    )


def pydantic_answer(model: type[BaseModel], body: bytes) -> Matrix | None:
    try:
        parsed: Any = model.model_validate_json(body)
        instances = parsed.instances
    except ValidationError:
        return None
    return to_matrix(instances, len(instances[0].__class__.model_fields))


def valid_rows(row: type[BaseModel], rng: random.Random) -> list[list[tuple[str, str]]]:
    """A few rows that every model here accepts, as (key, number literal) pairs."""
    floats = ["0.5", "1e-3", "0.25", "7.5e-1", "0.999", "1E-2"]

    def literal(name: str) -> str:
        if row.model_fields[name].annotation is int:
            return str(rng.randint(0, 120))
        return rng.choice(floats)

    return [[(name, literal(name)) for name in row.model_fields] for _ in range(rng.randint(1, 4))]


def render(rows: list[list[tuple[str, str]]], before: str = "", after: str = "") -> bytes:
    text = ", ".join("{" + ", ".join(f'"{k}": {v}' for k, v in row) + "}" for row in rows)
    return ("{" + before + '"instances": [' + text + "]" + after + "}").encode()


def mangle(rows: list[list[tuple[str, str]]], rng: random.Random) -> bytes:
    """A valid body changed in one or two ways, most of them making it invalid."""
    rows = [list(row) for row in rows]
    for _ in range(rng.randint(1, 2)):
        edit_row(rows, rng)
    before = rng.choice(['"instances": [], ', '"other": 1, ']) if rng.random() < 0.15 else ""
    after = rng.choice([', "instances": []', ', "other": 1']) if rng.random() < 0.15 else ""
    body = render(rows, before, after)
    if rng.random() < 0.25:  # one byte changed, added or removed
        at = rng.randrange(len(body))
        new = rng.choice(BYTES).encode() if rng.random() < 0.7 else b""
        body = body[:at] + new + body[at + rng.randrange(2) :]
    return body


def edit_row(rows: list[list[tuple[str, str]]], rng: random.Random) -> None:
    row = rng.choice(rows)
    if not row:
        row.append(("extra", "1"))
        return
    at = rng.randrange(len(row))
    key, value = row[at]
    escaped = f"\\u{ord(key[0]):04x}{key[1:]}" if key else key
    edits: list[Callable[[], object]] = [
        lambda: row.__setitem__(at, (key, rng.choice(NUMBERS))),
        lambda: row.__setitem__(at, (key, rng.choice(OTHER_VALUES))),
        lambda: row.pop(at),
        # The key twice, the other value first or last.
        lambda: row.insert(at + rng.randrange(2), (key, rng.choice(NUMBERS + OTHER_VALUES))),
        lambda: row.insert(at, (rng.choice(["extra", key.upper(), key + " ", ""]), "1")),
        # The same key, spelled with an escape.
        lambda: row.__setitem__(at, (escaped, value)),
        lambda: rows.append(list(row)),
        lambda: rows.append([]),
        lambda: rows.insert(0, row[::-1]),  # keys in another order
    ]
    rng.choice(edits)()


def assert_agrees(
    decode: Callable[[bytes], Matrix | None], model: type[BaseModel], body: bytes
) -> bool:
    """Whether the fast path took `body`; fails when it accepts what pydantic does not, or
    gives other values."""
    fast = decode(body)
    if fast is None:
        return False
    expected = pydantic_answer(model, body)
    assert expected is not None, f"accepted what pydantic refuses: {body!r}"
    assert fast.dtype == expected.dtype, body
    assert fast.shape == expected.shape, body
    assert fast.tobytes() == expected.tobytes(), f"other values than pydantic's: {body!r}"
    return True


@pytest.mark.parametrize("row", [StrictRow, LaxRow, Features])
def test_the_fast_path_accepts_only_what_pydantic_accepts_with_the_same_values(
    row: type[BaseModel],
) -> None:
    model = PredictRequest if row is Features else request_model(row)
    decode = decoder_for(model)
    rng = random.Random(f"fast-decode-{row.__name__}")
    taken = 0
    for _ in range(3000):
        rows = valid_rows(row, rng)
        body = render(rows)
        assert assert_agrees(decode, model, body), f"refused a valid body: {body!r}"
        taken += assert_agrees(decode, model, mangle(rows, rng))
    # Some mangled bodies are still valid (a key in another order, a duplicate row): the fast
    # path takes them too, so that the comparison covered more than refusals.
    assert taken > 100


def test_the_fast_path_keeps_every_digit_of_a_number() -> None:
    model = request_model(StrictRow)
    decode = decoder_for(model)
    rng = np.random.default_rng(7)
    for value in [
        *rng.normal(0, 1e6, 500),
        *rng.uniform(0, 1, 500),
        *(10.0 ** rng.uniform(-300, 38, 500)),
    ]:
        row = {
            "measure": value,
            "age": 30,
            "count": 2**62 + 1,
            "share": 0.5,
            "finite": value,
            "anything": -value,
        }
        body = json.dumps({"instances": [row]}).encode()
        assert assert_agrees(decode, model, body)


def test_an_int_no_float_holds_is_left_to_pydantic_and_reported_with_its_field() -> None:
    model = request_model(StrictRow)
    row = {"measure": 1.5, "age": 30, "count": 7, "share": 0.5, "finite": 2.0, "anything": 0}
    body = json.dumps({"instances": [row, row | {"count": 10**400}]}).encode()
    assert decoder_for(model)(body) is None
    parsed: Any = model.model_validate_json(body)  # an unbounded int: pydantic takes it
    problem = beyond_float(parsed.instances)
    assert problem["loc"] == ("body", "instances", 1, "count")
    assert "bound this feature" in problem["msg"]


class Checked(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    weight: BoundedFloat

    @field_validator("weight")
    @classmethod
    def not_too_heavy(cls, value: float) -> float:
        return value


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (Checked, "Checked has validators"),
        (
            create_model("Named", weight=(float, Field(alias="w"))),
            "weight has a default or an alias",
        ),
        (create_model("Defaulted", weight=(float, 1.0)), "weight has a default or an alias"),
        (create_model("Stepped", weight=(float, Field(multiple_of=0.5))), "weight has a rule"),
        (create_model("Texts", weight=(str, ...)), "weight is declared <class 'str'>"),
        (create_model("Optional", weight=(float | None, ...)), "weight is declared float | None"),
        (create_model("Huge", count=(int, Field(le=2**64))), "msgspec cannot take a rule"),
        (create_model("Floated", count=(int, Field(ge=1.0))), "msgspec cannot take a rule"),
        (RootModel[float], "not a list of rows"),
    ],
)
def test_a_rule_msgspec_cannot_check_leaves_bodies_to_pydantic(
    row: type[BaseModel], why: str
) -> None:
    with pytest.raises(UntranslatableError, match=why.replace("|", r"\|")):
        decoder_for(request_model(row))


@pytest.mark.parametrize(
    "instances",
    [
        (list[StrictRow], Field(alias="rows")),
        (list[StrictRow], Field(validation_alias="rows")),
        (list[StrictRow], []),
    ],
)
def test_a_request_whose_instances_have_an_alias_or_default_is_left_to_pydantic(
    instances: tuple[Any, Any],
) -> None:
    model = create_model("Aliased", __config__=ConfigDict(extra="forbid"), instances=instances)
    with pytest.raises(UntranslatableError, match="instances has a default or an alias"):
        decoder_for(model)


def test_features_take_the_fast_path() -> None:
    # If you gave Features a validator or another rule that msgspec cannot check, every body is
    # decoded by pydantic alone: correct, but three times slower for large requests
    # (fast_decode.py). Delete this test if that is what you want.
    assert FAST_DECODE is not None, NO_FAST_DECODE_BECAUSE


def test_the_startup_line_says_whether_the_fast_path_is_on(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings)):
        pass
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    (loaded,) = [line for line in lines if line["event"] == "model_loaded"]
    expected = "on" if FAST_DECODE is not None else f"off: {NO_FAST_DECODE_BECAUSE}"
    assert loaded["fast_decode"] == expected


def test_bodies_the_fast_path_refuses_get_pydantics_errors(
    client: TestClient, metadata: ModelMetadata
) -> None:
    row: dict[str, Any] = dict(metadata.example_row())
    first, second = list(row)[:2]
    # Refused by msgspec and by pydantic: pydantic names every problem of the row.
    bad = client.post(
        "/predict", json={"instances": [row | {first: "1.5", second: FLOAT32_MAX * 2}]}
    )
    assert bad.status_code == 422
    fields = {problem["field"] for problem in bad.json()["errors"]}
    assert fields == {f"instances[0].{first}", f"instances[0].{second}"}
    # Refused by msgspec only (the first of two values for one key is invalid), accepted by
    # pydantic, which takes the last: predicted as the row with that last value.
    text = json.dumps({"instances": [row]})
    twice = text.replace(f'"{first}": ', f'"{first}": "x", "{first}": ', 1)
    assert FAST_DECODE is None or FAST_DECODE(twice.encode()) is None
    response = client.post("/predict", content=twice, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert (
        response.json()["predictions"]
        == client.post("/predict", json={"instances": [row]}).json()["predictions"]
    )
