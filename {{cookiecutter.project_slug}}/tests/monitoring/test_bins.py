import numpy as np
import pytest

from {{ cookiecutter.package_name }}.monitoring.bins import (
    bin_shares,
    decile_edges,
    summarize_predictions,
)
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata


def test_a_value_on_an_edge_falls_in_the_bin_above_it() -> None:
    shares = bin_shares(np.array([0.0, 1.0, 1.0, 2.0, 3.0]), [1.0, 2.0])
    assert shares == pytest.approx([0.2, 0.4, 0.4])


def test_repeated_deciles_are_cut_once_so_that_no_bin_is_empty_but_below_the_smallest() -> None:
    values = np.array([0.0] * 60 + list(range(1, 41)), dtype=float)  # 60% ties at zero
    edges = decile_edges(values)
    assert list(edges) == sorted(set(edges))
    shares = bin_shares(values, edges)
    assert len(shares) == len(edges) + 1
    assert shares[0] == 0  # below the smallest value
    assert all(share > 0 for share in shares[1:])
    assert sum(shares) == pytest.approx(1)


def test_a_constant_feature_has_one_edge_and_all_its_rows_above_it() -> None:
    values = np.full(50, 7.0)
    assert list(decile_edges(values)) == [7.0]
    assert bin_shares(values, decile_edges(values)) == [0.0, 1.0]


def test_prediction_summary_bins_scores_of_a_regressor_or_a_binary_classifier() -> None:
    scores = np.linspace(0, 1, 101)
    regressor = summarize_predictions(scores, None)
    binary = summarize_predictions(np.column_stack([1 - scores, scores]), ["no", "yes"])
    for summary in (regressor, binary):
        assert summary.edges == pytest.approx(list(np.arange(1, 10) / 10))
        assert sum(summary.shares) == pytest.approx(1)
        assert len(summary.shares) == 10


def test_prediction_summary_of_more_classes_gives_each_class_its_share() -> None:
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    summary = summarize_predictions(probabilities, ["a", "b", "c"])
    assert summary.edges == []
    assert summary.shares == [0.25, 0.5, 0.25]


def test_training_metadata_gives_every_feature_a_share_per_bin(metadata: ModelMetadata) -> None:
    for spec in metadata.features:
        summary = metadata.summary[spec.name]
        assert len(summary.shares) == len(set(summary.deciles)) + 1, spec.name
        assert sum(summary.shares) == pytest.approx(1), spec.name
