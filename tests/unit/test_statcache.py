"""The stat cache: a digest comes back only while the file's stat is exactly what it was."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from loopml.core.hashing import hash_bytes
from loopml.data.statcache import FINE_RACY_NS, RACY_NS, FileStat, StatCache

OLD = 1_600_000_000_000_000_000  # file times far older than "now" below
NOW = OLD + 10 * RACY_NS


def stat_of(path: Path) -> FileStat:
    return FileStat.of(str(path), os.lstat(path))


def old_file(path: Path, content: bytes) -> FileStat:
    path.write_bytes(content)
    os.utime(path, ns=(OLD, OLD))
    return stat_of(path)


def test_a_recorded_file_is_found_while_its_stat_is_unchanged(tmp_path: Path) -> None:
    file = tmp_path / "a.bin"
    # ctime cannot be set; record as if "now" were well after it
    stat = old_file(file, b"hello")
    with StatCache(tmp_path / "stat.sqlite") as cache:
        cache.record([(stat, hash_bytes(b"hello"))], now_ns=stat.ctime_ns + 2 * RACY_NS)
        assert cache.lookup([stat_of(file)]) == {str(file): hash_bytes(b"hello")}
    with StatCache(tmp_path / "stat.sqlite") as reopened:  # it persists
        assert reopened.lookup([stat_of(file)]) == {str(file): hash_bytes(b"hello")}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.write_bytes(b"hellO"), id="same-size-rewrite"),
        pytest.param(lambda p: p.write_bytes(b"hello!"), id="size"),
        pytest.param(lambda p: os.utime(p, ns=(OLD, OLD + 1)), id="mtime"),
        pytest.param(lambda p: os.chmod(p, 0o600), id="ctime"),
        pytest.param(lambda p: (p.unlink(), p.write_bytes(b"hello")), id="new-inode"),
    ],
)
def test_any_change_to_the_stat_is_a_miss(tmp_path: Path, change: object) -> None:
    file = tmp_path / "a.bin"
    old_file(file, b"hello")
    os.link(file, tmp_path / "keep")  # holds the inode, so a re-created file gets another
    stat = stat_of(file)
    with StatCache(tmp_path / "stat.sqlite") as cache:
        cache.record([(stat, hash_bytes(b"hello"))], now_ns=stat.ctime_ns + 2 * RACY_NS)
        assert cache.lookup([stat_of(file)]) == {str(file): hash_bytes(b"hello")}
        time.sleep(0.05)  # past the filesystem's timestamp tick, so ctime moves
        change(file)  # type: ignore[operator]
        assert cache.lookup([stat_of(file)]) == {}


def test_files_changed_within_the_racy_window_are_not_recorded(tmp_path: Path) -> None:
    file = tmp_path / "a.bin"
    file.write_bytes(b"hello")
    stat = stat_of(file)
    with StatCache(tmp_path / "stat.sqlite") as cache:
        # looked at in the same tick as the last write: a later write could keep this stat
        cache.record([(stat, hash_bytes(b"hello"))], now_ns=stat.ctime_ns + FINE_RACY_NS // 2)
        assert cache.lookup([stat]) == {}
        cache.record([(stat, hash_bytes(b"hello"))], now_ns=stat.ctime_ns + 2 * FINE_RACY_NS)
        assert cache.lookup([stat]) == {str(file): hash_bytes(b"hello")}


def test_whole_second_times_get_the_coarse_racy_window(tmp_path: Path) -> None:
    coarse = FileStat(str(tmp_path / "fat.bin"), 5, OLD, OLD, 7)  # no sub-second part
    digest = hash_bytes(b"hello")
    with StatCache(tmp_path / "stat.sqlite") as cache:
        cache.record([(coarse, digest)], now_ns=OLD + RACY_NS // 2)  # could share a 2 s tick
        assert cache.lookup([coarse]) == {}
        cache.record([(coarse, digest)], now_ns=OLD + 2 * RACY_NS)
        assert cache.lookup([coarse]) == {coarse.path: digest}


def test_lookup_of_many_files_in_a_folder_finds_each(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (tmp_path / "data-other").mkdir()  # shares the prefix "data" but is another folder
    stats = {
        name: old_file(folder / name, name.encode()) for name in ("a.txt", "b.txt", "sub/c.txt")
    }
    sibling = old_file(tmp_path / "data-other" / "d.txt", b"d")
    now = max(s.ctime_ns for s in stats.values()) + 2 * RACY_NS
    with StatCache(tmp_path / "stat.sqlite") as cache:
        cache.record([(s, hash_bytes(n.encode())) for n, s in stats.items()], now_ns=now)
        cache.record([(sibling, hash_bytes(b"d"))], now_ns=now)
        found = cache.lookup(list(stats.values()))
    assert found == {s.path: hash_bytes(n.encode()) for n, s in stats.items()}


def test_a_corrupt_cache_file_is_a_warning_and_every_lookup_misses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "stat.sqlite"
    path.write_bytes(b"this is not a SQLite database" * 100)
    file = tmp_path / "a.bin"
    stat = old_file(file, b"hello")
    with caplog.at_level(logging.WARNING), StatCache(path) as cache:
        cache.record([(stat, hash_bytes(b"hello"))], now_ns=NOW)
        assert cache.lookup([stat]) == {}
    assert "Not using the stat cache" in caplog.text
