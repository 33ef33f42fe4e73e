"""What an audit gives the outcome record: the estimate a run was planned with."""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_emr_sizing.audit import prediction_of

PLANNED = {
    "recommendation": {"pod_memory_mib": 3000},
    "basis": {"predicted_peak_mib": 2600, "level": "exact"},
}


def test_the_planned_estimate_is_recorded_with_its_drift_in_log_space() -> None:
    audit = {**PLANNED, "basis": {**PLANNED["basis"], "drift": 0.1}}
    assert prediction_of(audit) == {
        "predicted_peak_mib": 2600,
        "predicted_level": "exact",
        "predicted_drift": pytest.approx(math.log(1.1)),
    }


@pytest.mark.parametrize(
    ("basis", "expected"),
    [
        ({"predicted_peak_mib": 2600, "drift": -1.0}, {"predicted_peak_mib": 2600, "predicted_drift": None}),
        ({"predicted_peak_mib": "lots"}, {}),
        ({"predicted_peak_mib": 2600, "drift": None}, {}),
    ],
)
def test_an_estimate_that_cannot_be_read_never_raises(
    basis: dict[str, Any], expected: dict[str, Any]
) -> None:
    result = prediction_of({"recommendation": {"pod_memory_mib": 1}, "basis": basis})
    assert {k: v for k, v in result.items() if k != "predicted_level"} == expected


def test_no_recommendation_no_estimate() -> None:
    assert prediction_of({"basis": {"predicted_peak_mib": 2600}}) == {}
