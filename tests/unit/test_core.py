"""Core pieces: errors, config discovery, digests, validation, the batcher's contract."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import loopml
from loopml.core import config as cfg
from loopml.core.errors import (
    ConflictError,
    FilterSyntaxError,
    InvalidInputError,
    LoopMLError,
    NotFoundError,
    error_from_code,
)
from loopml.core.hashing import Digest, hash_bytes, hash_chunks
from loopml.core.validation import (
    normalize_artifact_path,
    validate_artifact_edges,
    validate_key,
    validate_metric_value,
)


@pytest.mark.parametrize("cls", [NotFoundError, ConflictError, InvalidInputError, LoopMLError])
def test_error_codes_round_trip_to_the_same_class(cls: type[LoopMLError]) -> None:
    rebuilt = error_from_code(cls.code, "msg")
    assert type(rebuilt) is cls
    assert rebuilt.message == "msg"
    assert rebuilt.http_status == cls.http_status


def test_error_codes_are_unique() -> None:
    def subclasses(c: type[LoopMLError]) -> list[type[LoopMLError]]:
        return [c, *[s for sub in c.__subclasses__() for s in subclasses(sub)]]

    codes = [c.code for c in subclasses(LoopMLError)]
    assert len(codes) == len(set(codes))


def test_filter_syntax_error_draws_a_caret_under_the_position() -> None:
    err = FilterSyntaxError("Expected a value", text="metrics.a >", position=11)
    assert err.message.endswith("metrics.a >\n             ^")


def test_config_finds_dot_loopml_in_a_parent_like_git(tmp_path: Path) -> None:
    cfg.init_project(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    config = cfg.load_config(deep, env={})
    assert config.root == tmp_path.resolve() / ".loopml"
    assert config.store_uri == f"sqlite:///{tmp_path.resolve() / '.loopml' / 'loopml.db'}"
    assert config.server_url is None


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    root = cfg.init_project(tmp_path).root
    assert root is not None
    (root / "config.toml").write_text('store_uri = "sqlite:///from-file.db"\n')
    env = {cfg.ENV_STORE_URI: "postgresql://h/db", cfg.ENV_TOKEN: "s3cret"}
    config = cfg.load_config(tmp_path, env=env)
    assert config.store_uri == "postgresql://h/db"
    assert "s3cret" not in repr(config)
    assert cfg.load_config(tmp_path, env={}).store_uri == "sqlite:///from-file.db"


def test_bad_config_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    root = cfg.init_project(tmp_path).root
    assert root is not None
    (root / "config.toml").write_text('stor_uri = "x"\n')
    with pytest.raises(loopml.LoopMLError, match=r"config.toml: unknown key\(s\) stor_uri"):
        cfg.load_config(tmp_path, env={})


def test_no_project_means_no_store(tmp_path: Path) -> None:
    assert cfg.load_config(tmp_path, env={}).store_uri is None


@given(st.binary(max_size=4096), st.integers(min_value=1, max_value=512))
def test_chunked_hashing_equals_whole_hashing(data: bytes, size: int) -> None:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert hash_chunks(chunks) == hash_bytes(data)


def test_digest_parse_round_trips_and_refuses_garbage() -> None:
    digest = hash_bytes(b"abc")
    assert Digest.parse(str(digest)) == digest
    assert digest.shard == (digest.hexdigest[:2], digest.hexdigest[2:])
    for bad in ("md5:abc", "blake3:XYZ", "blake3:" + "0" * 63, "../../etc/passwd"):
        with pytest.raises(InvalidInputError):
            Digest.parse(bad)


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a\\b", "a\x00b"])
def test_artifact_paths_cannot_escape(path: str) -> None:
    with pytest.raises(InvalidInputError):
        normalize_artifact_path(path)


def test_artifact_paths_are_normalised() -> None:
    assert normalize_artifact_path("a/./b//c") == "a/b/c"
    assert normalize_artifact_path("") == ""


def test_metric_values_must_be_real_numbers() -> None:
    assert validate_metric_value("k", 3) == 3.0
    for bad in ("1", None, True, 1j):
        with pytest.raises(InvalidInputError, match="'k'"):
            validate_metric_value("k", bad)


_EDGE_PART = st.one_of(
    st.sampled_from(["input", "output", "blake3:" + "a" * 64, "b" * 64, "x", ""]),
    st.text(max_size=300),
    st.integers(),
    st.none(),
)


@given(st.lists(st.one_of(st.tuples(_EDGE_PART, _EDGE_PART, _EDGE_PART), _EDGE_PART)))
def test_artifact_edges_are_normalised_or_refused_as_invalid_input(edges: list[object]) -> None:
    try:
        triples = validate_artifact_edges(edges)
    except InvalidInputError:
        return
    assert triples == sorted(set(triples))
    for direction, digest, name in triples:
        assert direction in ("input", "output") and str(Digest.parse(digest)) == digest
        assert isinstance(name, str) and 0 < len(name) <= 255
    assert validate_artifact_edges(triples) == triples


def test_artifact_edge_errors_name_the_field_and_what_is_allowed() -> None:
    tree = "blake3:" + "a" * 64
    with pytest.raises(InvalidInputError, match=r"direction .* 'input' or 'output'. Got 'in'"):
        validate_artifact_edges([("in", tree, "x")])
    with pytest.raises(InvalidInputError, match=r"digest .*64 lowercase hex"):
        validate_artifact_edges([("input", "blake3:xyz", "x")])
    with pytest.raises(InvalidInputError, match=r"name .*at most 255"):
        validate_artifact_edges([("input", tree, "")])
    assert validate_artifact_edges([("output", "a" * 64, "output")]) == [("output", tree, "output")]


def test_keys_are_bounded_and_named_in_errors() -> None:
    assert validate_key("metric", "val/loss") == "val/loss"
    with pytest.raises(InvalidInputError, match="maximum is 250"):
        validate_key("metric", "x" * 251)
    with pytest.raises(InvalidInputError, match="param key"):
        validate_key("param", "")


def test_public_names_are_exactly_all() -> None:
    # subpackages become attributes once anything imports them, whatever ran before
    subpackages = {module.name for module in pkgutil.iter_modules(loopml.__path__)}
    public = {name for name in dir(loopml) if not name.startswith("_")} - subpackages
    assert public == set(loopml.__all__) - {"__version__"}


def test_unknown_store_scheme_lists_the_supported_ones_without_the_password() -> None:
    from loopml.core.errors import ConfigError
    from loopml.stores.registry import open_artifact_store, open_metadata_store

    with pytest.raises(ConfigError) as info:
        open_metadata_store("mysql://user:hunter2@db/x")
    assert "hunter2" not in info.value.message
    assert "sqlite://" in info.value.message and "postgresql" in info.value.message
    with pytest.raises(ConfigError, match="s3://"):
        open_artifact_store("ftp://host/path")


def test_loopml_data_is_reachable_from_the_package_without_an_extra_import() -> None:
    import subprocess
    import sys

    code = "import loopml, sys; assert 'pyarrow' not in sys.modules; print(loopml.data.add)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "function add" in done.stdout
