"""Sampled payload logging: a share of the predict requests logged with their rows and
predictions, as one structured line that carries the request id (bound by the middleware)."""

import random

import structlog

from ..serving.prediction import Matrix, Predictions

REDACTED = "[redacted]"


class PayloadLog:
    def __init__(self, rate: float, features: list[str], redacted: set[str]) -> None:
        self.rate = rate
        self.features = features
        self.redacted = redacted
        self.log = structlog.get_logger().bind(logger=__name__)

    def sample(self, x: Matrix, result: Predictions) -> None:
        """Log this request's payload with probability `rate`."""
        if random.random() >= self.rate:  # noqa: S311 - sampling, not security
            return
        rows = [
            {
                name: REDACTED if name in self.redacted else value
                for name, value in zip(self.features, row, strict=True)
            }
            for row in x.tolist()
        ]
        self.log.info(
            "payload", rows=rows, predictions=result.outputs, probabilities=result.probabilities
        )
