"""The pure parts of packaging: Kubernetes names and the bundle's requirement lines."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopml.core.errors import InvalidInputError
from loopml.core.version import __version__
from loopml.models.deployment import kubernetes_name
from loopml.models.packaging import bundle_requirements

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


@given(st.text(min_size=1, max_size=300))
def test_any_model_name_becomes_a_valid_dns_label(name: str) -> None:
    assert DNS_LABEL.match(kubernetes_name(name))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("iris-clf", "iris-clf"), ("Churn_Model.v2", "churn-model-v2"), ("3d", "model-3d")],
)
def test_simple_names_stay_readable(name: str, expected: str) -> None:
    assert kubernetes_name(name) == expected


def test_requirements_add_loopml_serve_sort_and_drop_duplicates_and_other_loopml_pins() -> None:
    pins = ["skops==0.16.0", "numpy==2.0.0", "scikit-learn==1.5.2", "numpy==2.0.0", "loopml==0.0.1"]
    assert bundle_requirements(pins) == [
        f"loopml[serve]=={__version__}",
        "numpy==2.0.0",
        "scikit-learn==1.5.2",
        "skops==0.16.0",
    ]


@pytest.mark.parametrize("line", ["--extra-index-url https://example.com", "numpy\nevil"])
def test_a_requirement_that_is_not_a_plain_line_is_refused(line: str) -> None:
    with pytest.raises(InvalidInputError, match="not a requirement line"):
        bundle_requirements([line])
