"""The remote client's wire format and URL handling, without a server."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopml.core.errors import ConfigError
from loopml.stores.remote import wire
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.metadata import HttpMetadataStore


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_survives_strict_json(value: float) -> None:
    text = json.dumps(wire.encode_float(value), allow_nan=False)
    back = wire.decode_float(json.loads(text))
    assert isinstance(back, float)
    assert (math.isnan(back) and math.isnan(value)) or back == value


def test_only_the_three_names_decode_to_non_finite_floats() -> None:
    assert [wire.encode_float(v) for v in (math.nan, math.inf, -math.inf)] == [
        "NaN",
        "Infinity",
        "-Infinity",
    ]
    assert wire.decode_float("nan") == "nan"  # left for validation to refuse
    assert wire.decode_float("1.5") == "1.5"


def test_unexpected_server_json_is_a_wire_format_error() -> None:
    with pytest.raises(wire.WireFormatError, match="'status'"):
        wire.run_from_json(
            {"id": "r", "experiment_id": "e", "name": "n", "status": "PAUSED", "start_time": 1}
        )


@pytest.mark.parametrize("uri", ["ftp://host", "http://", "127.0.0.1:5000"])
def test_a_server_url_must_be_http_with_a_host(uri: str) -> None:
    with pytest.raises(ConfigError, match="Invalid server URL"):
        ApiClient(uri)


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(ConfigError, match="token"):
        ApiClient("http://ana:secret@host:5000")


def test_the_token_never_shows_and_the_api_root_is_tolerated() -> None:
    client = ApiClient("http://host:5000/api/v1/", token="s3cret")
    assert client.base_url == "http://host:5000"
    assert "s3cret" not in repr(client)
    store = HttpMetadataStore("http://host:5000", token="s3cret")
    assert "s3cret" not in repr(store) and "s3cret" not in repr(vars(store))
    client.close()
    store.close()
