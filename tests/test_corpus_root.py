"""The corpus root boundary itself: what resolves inside, what does not, and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmbench.corpus_root import (
    Boundary,
    OutsideCorpus,
    Resolver,
    Unresolvable,
    check,
    outside,
    within,
)
from mmbench.read_ahead import read_file


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "corpus" / "real").mkdir(parents=True)
    (tmp_path / "corpus" / "real" / "a.png").write_bytes(b"inside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "a.png").write_bytes(b"outside")
    return tmp_path / "corpus"


def test_inside_is_followed_and_outside_is_named(corpus: Path) -> None:
    (corpus / "alias").symlink_to("real")
    (corpus / "away").symlink_to(corpus.parent / "outside")
    boundary = Boundary.of(corpus)
    assert boundary.resolve(corpus / "alias" / "a.png") == str(corpus / "real" / "a.png")
    with pytest.raises(OutsideCorpus) as err:
        boundary.resolve(corpus / "away" / "a.png", "image")
    assert str(err.value) == (
        f"image leads outside the corpus root: {corpus}/away/a.png resolves to "
        f"{corpus.parent}/outside/a.png, which is not inside {corpus}; pass "
        f"--allow-symlinks-out (allow_symlinks_out=True in Python) to read it")
    # a sibling whose name starts like the root is not inside it
    assert not boundary.holds(str(corpus) + "-evil/a.png")
    (corpus.parent / "root-link").symlink_to(corpus)  # a root given through a link is fine
    linked = Boundary.of(corpus.parent / "root-link")
    assert linked.resolve(corpus.parent / "root-link" / "real" / "a.png") == str(
        corpus / "real" / "a.png")
    allowed = Boundary.of(corpus, allow_outside=True)
    assert allowed.resolve(corpus / "away" / "a.png") == str(corpus.parent / "outside" / "a.png")


def test_a_root_named_as_one_file_may_itself_be_a_link(corpus: Path) -> None:
    (corpus / "data.tsv").symlink_to(corpus.parent / "outside" / "a.png")
    boundary = Boundary.of(corpus / "data.tsv")
    assert boundary.root == str(corpus)
    assert boundary.resolve(corpus / "data.tsv") == str(corpus.parent / "outside" / "a.png")
    assert boundary.resolve(corpus / "real" / "a.png") == str(corpus / "real" / "a.png")


def test_loops_nul_bytes_and_missing_files(corpus: Path) -> None:
    (corpus / "loop.png").symlink_to("loop.png")
    resolver = Resolver(Boundary.of(corpus))
    with pytest.raises(Unresolvable, match="a symlink loop") as err:
        resolver.resolve(corpus / "loop.png")
    assert err.value.why == "a symlink loop"
    with pytest.raises(Unresolvable, match="null byte"):
        resolver.resolve(str(corpus / "a\0.png"))
    missing = corpus / "no" / "such.png"  # kept as written: opening it says it is missing
    assert resolver.resolve(missing) == str(missing)
    with pytest.raises(FileNotFoundError):
        read_file(resolver.resolve(missing), resolver.open)


def test_a_folder_swapped_for_a_link_after_the_check_is_refused(corpus: Path) -> None:
    resolver = Resolver(Boundary.of(corpus))
    path = resolver.resolve(corpus / "real" / "a.png")
    assert read_file(path, resolver.open) == b"inside"
    (corpus / "real").rename(corpus / "was-real")
    (corpus / "real").symlink_to(corpus.parent / "outside")
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc: only O_NOFOLLOW on the last component guards the open")
    with pytest.raises(OutsideCorpus, match="outside/a.png"):
        read_file(path, resolver.open)


def test_a_file_swapped_for_a_link_after_the_check_is_refused(corpus: Path) -> None:
    resolver = Resolver(Boundary.of(corpus))
    path = resolver.resolve(corpus / "real" / "a.png")
    (corpus / "real" / "a.png").unlink()
    (corpus / "real" / "a.png").symlink_to(corpus.parent / "outside" / "a.png")
    with pytest.raises(OSError):  # O_NOFOLLOW: ELOOP
        read_file(path, resolver.open)


def test_adapters_check_only_inside_a_build(corpus: Path) -> None:
    (corpus / "away").symlink_to(corpus.parent / "outside")
    away = corpus / "away" / "a.png"
    assert check(away) == away and outside(away) is None  # no build: nothing to check
    with within(Boundary.of(corpus)):
        assert check(corpus / "real" / "a.png") == corpus / "real" / "a.png"
        with pytest.raises(OutsideCorpus):
            check(away)
        assert isinstance(outside(corpus / "away"), OutsideCorpus)
    with within(Boundary.of(corpus, allow_outside=True)):
        assert check(away) == away
