"""What a predictor's optional `explain` method returns (api/explain.py serves it)."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Contributions:
    """Each feature's contribution to each row's raw score, and the bias: per row and label, the
    contributions and the bias add up to the score (for XGBoost, its margin).

    `labels` names the scores explained: each class of a multi-class model, the positive class of
    a binary one. `values` is shaped (rows, labels, features), `bias` (rows, labels).
    """

    labels: list[str]
    values: npt.NDArray[np.floating]
    bias: npt.NDArray[np.floating]
