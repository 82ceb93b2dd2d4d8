"""Shipped class lists, their derivation, and ``exclude=`` resolution."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lib.data.class_exclusion import (CLASS_LIST_DIR, CLASS_LISTS, imagenet_class_names,
                                      imagenet_wnids, load_class_list, resolve_exclusion)
from lib.data.class_lists import derive


def shipped_rows(name):
    text = (CLASS_LIST_DIR / f"{name}.txt").read_text()
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def test_imagenet_order_is_map_clsloc():
    wnids = imagenet_wnids()
    assert len(wnids) == len(set(wnids)) == 1000
    # map_clsloc.txt: 1 kit_fox, 2 English_setter, ..., 1000 dumbbell
    assert wnids[:2] == ["n02119789", "n02100735"] and wnids[999] == "n03255030"
    assert imagenet_class_names()[0] == "kit_fox"
    assert sorted(wnids)[0] == "n01440764" and sorted(wnids)[-1] == "n15075141"


@pytest.mark.parametrize("name", CLASS_LISTS)
def test_lists_are_sorted_unique_and_consistent(name):
    labels = load_class_list(name)
    assert labels == sorted(set(labels)) and all(0 <= i < 1000 for i in labels)
    wnids, names = imagenet_wnids(), imagenet_class_names()
    for row in shipped_rows(name):  # index, wnid and name agree with imagenet_wnids.txt
        assert wnids[int(row[0])] == row[1] and names[int(row[0])] == row[2]


def test_tiny_imagenet_list_is_its_200_wnids():
    labels = load_class_list("tiny_imagenet")
    assert len(labels) == 200
    tiny = [w for w, _ in derive.read_wnids(CLASS_LIST_DIR / "tiny_imagenet_wnids.txt")]
    assert len(set(tiny)) == 200
    assert {imagenet_wnids()[i] for i in labels} == set(tiny)


def test_cifar10_related_count_matches_readme_and_header():
    rows = shipped_rows("cifar10_related")
    count = len(rows)
    header = (CLASS_LIST_DIR / "cifar10_related.txt").read_text().splitlines()[0]
    assert f"{count} classes" in header
    readme = (CLASS_LIST_DIR / "README.md").read_text()
    assert f"**{count}**" in readme
    by_class = {}
    for row in rows:
        by_class.setdefault(row[3], []).append(row[2])
    assert set(by_class) == set(derive.CIFAR10_SYNSETS) - {"deer"}  # ImageNet-1k has no deer
    assert "tabby" in by_class["cat"] and "airliner" in by_class["airplane"]
    assert "tench" not in {row[2] for row in rows}


def test_unknown_list_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        load_class_list("cifar100_related")
    for name in CLASS_LISTS:
        assert repr(name) in str(err.value)


def test_resolve_exclusion():
    assert resolve_exclusion(None) == []
    assert resolve_exclusion((5, 3, 5)) == [3, 5]
    assert resolve_exclusion(range(2)) == [0, 1]
    assert resolve_exclusion("tiny_imagenet") == load_class_list("tiny_imagenet")
    with pytest.raises(ValueError, match="cifar10_related"):
        resolve_exclusion("nope")
    with pytest.raises(ValueError, match=r"\[0, 999\]"):
        resolve_exclusion([-1])
    with pytest.raises(TypeError):
        resolve_exclusion([True])
    with pytest.raises(TypeError):
        resolve_exclusion(7)


# -- the derivation, on a miniature WordNet in the 3.0 file format --------------------
MINI_INDEX = """\
  1 This software and database is being provided to you, the LICENSEE, by
dog n 2 1 @ 2 1 02084071 10114209
puppy n 1 1 @ 1 0 02085374
fido n 1 1 @ 1 0 09999998
cat n 1 1 @ 1 0 02121620
"""
# offset lex_filenum ss_type w_cnt(hex) word lex_id ... p_cnt(3 digits) pointers | gloss
MINI_DATA = """\
  1 This software and database is being provided to you, the LICENSEE, by
02084071 05 n 02 dog 0 domestic_dog 0 002 ~ 02085374 n 0000 ~i 09999998 n 0000 | a dog
02085374 05 n 01 puppy 0 001 @ 02084071 n 0000 | a young dog
09999998 18 n 01 Fido 0 001 @i 02084071 n 0000 | a dog's name
02121620 05 n 01 cat 0 000 | a cat
10114209 18 n 01 dog 1 000 | a person
"""


def test_wordnet_reader_and_closure(tmp_path):
    (tmp_path / "index.noun").write_text(MINI_INDEX)
    (tmp_path / "data.noun").write_text(MINI_DATA)
    wn = derive.WordNet(tmp_path)
    assert wn.synset("dog.n.01") == "02084071" and wn.synset("dog.n.02") == "10114209"
    assert wn.closure("02084071") == {"02084071", "02085374", "09999998"}  # incl. instances
    assert wn.words["02084071"] == ["dog", "domestic_dog"]
    imagenet = [("n02121620", "cat"), ("n02085374", "puppy"), ("n10114209", "person")]
    rows = derive.cifar10_related(wn, imagenet, {"dog": "dog.n.01", "cat": "cat.n.01"})
    assert rows == [(0, "n02121620", "cat", "cat"), (1, "n02085374", "puppy", "dog")]
    with pytest.raises(ValueError, match="dog.n.03"):
        wn.synset("dog.n.03")


def test_missing_wordnet_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        derive.WordNet(tmp_path)


WORDNET_DIR = Path(os.environ.get("WORDNET_DIR", derive.DEFAULT_WORDNET_DIR))


@pytest.mark.skipif(not (WORDNET_DIR / "data.noun").is_file(),
                    reason="WordNet 3.0 not installed (apt-get install wordnet-base)")
def test_shipped_lists_regenerate_exactly():
    for name, text in derive.build(WORDNET_DIR).items():
        assert (CLASS_LIST_DIR / name).read_text() == text, name
