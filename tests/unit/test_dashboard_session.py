"""The dashboard session's pure rules: where ``next`` may send a browser after signing in,
and the CSRF value bound to a token."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from loopml.dashboard.session import csrf_matches, csrf_value, form_field, safe_next

HOME = "/ui/"


@given(st.text(max_size=60) | st.sampled_from(["//x", "/\\x", "/ui//x", "https://x/ui/"]))
def test_next_is_a_path_under_the_dashboard_on_this_site_or_home(target: str) -> None:
    chosen = safe_next(target, HOME)
    parts = urlsplit(chosen)
    assert not parts.scheme and not parts.netloc and not chosen.startswith("//")
    assert chosen == HOME or parts.path == "/ui" or parts.path.startswith("/ui/")
    assert "\\" not in chosen and not any(ord(char) < 0x21 for char in chosen)


def test_next_keeps_a_dashboard_page_with_its_query() -> None:
    assert safe_next("/ui/audit?actor=bo&per_page=10", HOME) == "/ui/audit?actor=bo&per_page=10"
    assert safe_next("/root/ui/models/churn", "/root/ui/") == "/root/ui/models/churn"
    assert safe_next("/ui/models", "/root/ui/") == "/root/ui/"  # outside this root path


def test_the_csrf_value_is_bound_to_its_token_and_hides_it() -> None:
    token = "lml_0123456789abcdef_secret"
    value = csrf_value(token)
    assert value == csrf_value(token) and value != csrf_value(token + "x")
    assert token not in value and "secret" not in value
    assert csrf_matches(token, value)
    assert not csrf_matches(token, None) and not csrf_matches(token, value[:-1])


def test_a_form_field_is_read_from_a_urlencoded_body() -> None:
    assert form_field(b"csrf=abc&token=lml_1", "csrf") == "abc"
    assert form_field(b"token=a%2Bb+c", "token") == "a+b c"
    assert form_field(b"other=1", "csrf") is None
    assert form_field(b"\xff\xfe", "csrf") is None
