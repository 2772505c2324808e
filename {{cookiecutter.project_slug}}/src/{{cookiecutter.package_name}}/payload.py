"""The body of POST /predict: its size and media type checked, then parsed and validated."""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from fastapi import Request
from pydantic import BaseModel, ValidationError

from .errors import MAX_ERRORS, BodyTooLargeError, BodyValidationError, UnsupportedMediaTypeError
from .fast_decode import Decoder, UntranslatableError, decoder_for
from .prediction import Matrix, to_matrix
from .predictor import Features
from .schemas import PredictRequest

WIDTH = len(Features.model_fields)
# Rows longer than this, in bytes, may hold more keys than Features has fields: room for every
# name with 40 bytes to spare for its quotes, colon, value and separator.
ROOMY_ROW_BYTES = sum(len(name) + 40 for name in Features.model_fields)
FORBIDS_UNKNOWN_KEYS = Features.model_config.get("extra") == "forbid"


class RawRows(msgspec.Struct):
    """A predict body's rows as their undecoded JSON (other keys ignored)."""

    instances: list[msgspec.Raw]


decode_raw_rows = msgspec.json.Decoder(RawRows).decode
decode_keys = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode


def fast_decoder() -> tuple[Decoder | None, str]:
    """The fast path for valid bodies (fast_decode.py), or None and why there is none."""
    try:
        return decoder_for(PredictRequest), ""
    except UntranslatableError as error:
        return None, str(error)


FAST_DECODE, NO_FAST_DECODE_BECAUSE = fast_decoder()


async def read_instances(request: Request, max_bytes: int) -> Matrix:
    """The rows of the predict request, parsed and validated in one pass, as a Matrix.

    A valid body takes the fast path of fast_decode.py when there is one. pydantic judges every
    other body, parsing and validating JSON bytes in one go, in Rust: for 100 rows that is
    several times cheaper than FastAPI's body handling (the standard library's json.loads, then
    validation of the Python objects). The OpenAPI document describes this body (see app.py).
    """
    # Checked before the body is read: a body of the wrong type is refused unread.
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"the body must be application/json, not {media_type or 'unlabelled'}",
            field="Content-Type",
        )
    tokens = (
        token.strip().lower()
        for header in request.headers.getlist("content-encoding")
        for token in header.split(",")
    )
    encodings = [token for token in tokens if token not in ("", "identity")]
    if encodings:
        raise UnsupportedMediaTypeError(
            f"the body must be sent uncompressed, not as {', '.join(encodings)}",
            field="Content-Encoding",
        )
    body = await read_body(request, max_bytes)
    if FAST_DECODE is not None and (x := FAST_DECODE(body)) is not None:
        return x
    if FORBIDS_UNKNOWN_KEYS:
        refuse_rows_with_extra_keys(body)
    try:
        instances = PredictRequest.model_validate_json(body).instances
    except ValidationError as error:
        # Reported like any other invalid request, with the field inside the body.
        problems = first_problems(error, MAX_ERRORS)
        raise BodyValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in problems],
            total=error.error_count(),
        ) from None
    try:
        return to_matrix(instances, WIDTH)
    except OverflowError:  # an int feature without bounds, given a number no float holds
        raise BodyValidationError([beyond_float(instances)], total=1) from None


def refuse_rows_with_extra_keys(body: bytes) -> None:
    """Refuse the body, by the unknown keys of its first row with more keys than Features has
    fields, if it has one.

    pydantic's time for an unknown key grows with the number of fields: one row of 80,000
    unknown keys (1 MB) took 0.4 s with the sample's 30 fields and 3.6 s with 120, all of it on
    the event loop. Counted here by msgspec, the keys of that row take a few milliseconds. A body
    that is not a list of objects is left to pydantic, which reports what it is.
    """
    try:
        rows = decode_raw_rows(body).instances
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    for index, row in enumerate(rows):
        if len(row) <= ROOMY_ROW_BYTES:
            continue
        try:
            keys = decode_keys(row)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if len(keys) > WIDTH:
            unknown = [key for key in keys if key not in Features.model_fields]
            raise BodyValidationError(
                [
                    {
                        "loc": ("body", "instances", index, key),
                        "msg": "Extra inputs are not permitted",
                        "type": "extra_forbidden",
                    }
                    for key in unknown[:MAX_ERRORS]
                ],
                total=len(unknown),
            )


def beyond_float(rows: Sequence[BaseModel]) -> Mapping[str, Any]:
    """The first value of `rows` that no 64-bit float holds, as a problem of the body."""
    for index, row in enumerate(rows):
        for name, value in row.__dict__.items():
            try:
                float(value)
            except OverflowError:
                return {
                    "loc": ("body", "instances", index, name),
                    "msg": "Number too large for a 64-bit float; bound this feature in Features",
                    "type": "too_large",
                }
    raise ValueError("no value of the rows is beyond a 64-bit float")


def first_problems(error: ValidationError, limit: int) -> Sequence[Mapping[str, Any]]:
    """The first `limit` problems of `error`, without their inputs or contexts.

    A body can hold a great many: a row of 80,000 unknown keys in 1 MB. `errors()` makes a dict
    of each, which took 0.11 s for those; `json()` renders them all in Rust in 0.016 s, and only
    the first `limit` are decoded from it.
    """
    if error.error_count() <= limit:
        return error.errors(include_url=False, include_context=False, include_input=False)
    text = error.json(include_url=False, include_context=False, include_input=False)
    decoder = json.JSONDecoder()
    problems: list[Mapping[str, Any]] = []
    position = 0
    while len(problems) < limit:
        while text[position] in "[, \n":  # past the array's opening and each separator
            position += 1
        problem, position = decoder.raw_decode(text, position)
        problems.append(problem | {"loc": tuple(problem["loc"])})
    return problems


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or a 413 as soon as it is known to exceed `max_bytes`.

    A declared Content-Length is checked before anything is read. A chunked body declares none,
    so it is counted as it arrives, and reading stops at the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise BodyTooLargeError(max_bytes)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLargeError(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
