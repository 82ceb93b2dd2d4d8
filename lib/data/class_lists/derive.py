"""Regenerate the shipped class-exclusion lists (``python -m lib.data.class_lists.derive``).

The paper (Hendrycks et al., 2019, §3) removes "153 CIFAR-10-related classes"
from Downsampled ImageNet for the CIFAR ablations and Tiny ImageNet's 200
classes for Tiny ImageNet pre-training; neither list was published. This script
rebuilds both from public inputs shipped beside it:

* ``imagenet_wnids.txt``: the 1000 ILSVRC-2012 wnids in the ILSVRC devkit's
  ``map_clsloc.txt`` order, which is the label order 1..1000 of Downsampled
  ImageNet (Chrabaszcz et al., 2017);
* ``tiny_imagenet_wnids.txt``: the 200 wnids of Tiny ImageNet's ``wnids.txt``;
* WordNet 3.0 (not shipped; Debian/Ubuntu ``apt-get install wordnet-base`` puts
  it under ``/usr/share/wordnet``), read directly from ``index.noun`` and
  ``data.noun``. ImageNet wnids are WordNet 3.0 noun offsets (``n`` + offset).

Outputs: ``cifar10_related.txt`` (every ImageNet class that is a hyponym, at any
depth and including instance hyponyms, of the WordNet synset chosen for a
CIFAR-10 class) and ``tiny_imagenet.txt``. ``--check`` compares instead of writing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_WORDNET_DIR = "/usr/share/wordnet"

# CIFAR-10 class -> WordNet 3.0 synset (lemma.pos.sense). Justification in README.md.
CIFAR10_SYNSETS = {
    "airplane": "airplane.n.01",
    "automobile": "car.n.01",
    "bird": "bird.n.01",
    "cat": "cat.n.01",
    "deer": "deer.n.01",
    "dog": "dog.n.01",
    "frog": "frog.n.01",
    "horse": "horse.n.01",
    "ship": "ship.n.01",
    "truck": "truck.n.01",
}

# A broader reading, reported in README.md for comparison only (not shipped).
CIFAR10_SYNSETS_BROAD = {
    "airplane": "aircraft.n.01",
    "automobile": "car.n.01",
    "bird": "bird.n.01",
    "cat": "feline.n.01",
    "deer": "deer.n.01",
    "dog": "canine.n.02",
    "frog": "frog.n.01",
    "horse": "equine.n.01",
    "ship": "vessel.n.02",
    "truck": "truck.n.01",
}

HYPONYM_POINTERS = ("~", "~i")  # hyponym, instance hyponym


class WordNet:
    """The noun part of a WordNet 3.0 database directory (``index.noun``, ``data.noun``)."""

    def __init__(self, directory):
        self.directory = Path(directory)
        index, data = self.directory / "index.noun", self.directory / "data.noun"
        for path in (index, data):
            if not path.is_file():
                raise FileNotFoundError(
                    f"WordNet file {path} not found; install WordNet 3.0 "
                    "(`apt-get install wordnet-base`) or pass --wordnet-dir")
        self.senses: dict[str, list[str]] = {}
        for line in index.read_text(encoding="latin-1").splitlines():
            if not line or line.startswith(" "):
                continue
            parts = line.split()
            lemma, synset_cnt, p_cnt = parts[0], int(parts[2]), int(parts[3])
            offsets = parts[4 + p_cnt + 2:]
            assert len(offsets) == synset_cnt, line
            self.senses[lemma] = offsets
        self.hyponyms: dict[str, list[str]] = {}
        self.words: dict[str, list[str]] = {}
        self.gloss: dict[str, str] = {}
        for line in data.read_text(encoding="latin-1").splitlines():
            if not line or line.startswith(" "):
                continue
            fields, _, gloss = line.partition("|")
            parts = fields.split()
            offset, w_cnt = parts[0], int(parts[3], 16)
            words = parts[4:4 + 2 * w_cnt:2]
            pos = 4 + 2 * w_cnt
            p_cnt = int(parts[pos])
            children = []
            for k in range(p_cnt):
                symbol, target, target_pos = parts[pos + 1 + 4 * k: pos + 4 + 4 * k]
                if symbol in HYPONYM_POINTERS and target_pos == "n":
                    children.append(target)
            self.hyponyms[offset] = children
            self.words[offset] = words
            self.gloss[offset] = gloss.strip()

    def synset(self, name: str) -> str:
        """``'dog.n.01'`` → its offset (8 digits)."""
        lemma, pos, sense = name.rsplit(".", 2)
        if pos != "n":
            raise ValueError(f"only noun synsets are supported, got {name!r}")
        offsets = self.senses.get(lemma.lower())
        if not offsets or int(sense) > len(offsets):
            raise ValueError(f"WordNet has no synset {name!r}")
        return offsets[int(sense) - 1]

    def closure(self, offset: str) -> set[str]:
        """``offset`` and all its (instance) hyponyms, transitively."""
        seen, stack = {offset}, [offset]
        while stack:
            for child in self.hyponyms.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen


def read_wnids(path) -> list[tuple[str, str]]:
    """``(wnid, name)`` rows of a shipped wnid file (``#`` lines are comments)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            cols = line.split("\t")
            rows.append((cols[0].strip(), cols[1].strip() if len(cols) > 1 else ""))
    return rows


def cifar10_related(wordnet: WordNet, imagenet: list[tuple[str, str]], synsets=CIFAR10_SYNSETS):
    """Rows ``(index, wnid, name, cifar10_class)`` of ImageNet classes under the
    given CIFAR-10 synsets, sorted by index. A class under two roots keeps the first."""
    index_of = {wnid: i for i, (wnid, _) in enumerate(imagenet)}
    rows: dict[int, tuple[int, str, str, str]] = {}
    for cifar_class, synset in synsets.items():
        for offset in wordnet.closure(wordnet.synset(synset)):
            i = index_of.get("n" + offset)
            if i is not None and i not in rows:
                rows[i] = (i, imagenet[i][0], imagenet[i][1], cifar_class)
    return [rows[i] for i in sorted(rows)]


def tiny_imagenet_rows(imagenet: list[tuple[str, str]], tiny_wnids: list[str]):
    """Rows ``(index, wnid, name)`` of the Tiny ImageNet classes, sorted by index."""
    index_of = {wnid: i for i, (wnid, _) in enumerate(imagenet)}
    missing = [w for w in tiny_wnids if w not in index_of]
    if missing:
        raise ValueError(f"Tiny ImageNet wnids not among the 1000 ImageNet classes: {missing}")
    return sorted((index_of[w], w, imagenet[index_of[w]][1]) for w in tiny_wnids)


def render(rows, header: str) -> str:
    lines = [f"# {h}" for h in header.strip().splitlines()]
    lines += ["\t".join(str(c) for c in row) for row in rows]
    return "\n".join(lines) + "\n"


def build(wordnet_dir=None) -> dict[str, str]:
    """Content of every generated file, by file name."""
    imagenet = read_wnids(HERE / "imagenet_wnids.txt")
    tiny = [w for w, _ in read_wnids(HERE / "tiny_imagenet_wnids.txt")]
    assert len(imagenet) == 1000 and len(tiny) == 200
    wordnet = WordNet(wordnet_dir or os.environ.get("WORDNET_DIR", DEFAULT_WORDNET_DIR))
    absent = [w for w, _ in imagenet if w[1:] not in wordnet.hyponyms]
    if absent:
        raise ValueError(f"{len(absent)} ImageNet wnids missing from this WordNet: is it 3.0?")
    cifar = cifar10_related(wordnet, imagenet)
    roots = ", ".join(f"{c}={s} (n{wordnet.synset(s)})" for c, s in CIFAR10_SYNSETS.items())
    files = {
        "cifar10_related.txt": render(cifar, f"""
ImageNet classes related to CIFAR-10: {len(cifar)} classes (the paper reports 153).
WordNet 3.0 hyponym closure of: {roots}
Columns: Downsampled-ImageNet 0-based label, wnid, map_clsloc name, CIFAR-10 class.
Generated by `python -m lib.data.class_lists.derive`; do not edit."""),
        "tiny_imagenet.txt": render(tiny_imagenet_rows(imagenet, tiny), """
The 200 Tiny ImageNet classes as Downsampled-ImageNet labels.
Columns: Downsampled-ImageNet 0-based label, wnid, map_clsloc name.
Generated by `python -m lib.data.class_lists.derive`; do not edit."""),
    }
    return files


def summary(wordnet_dir=None) -> str:
    """Per-CIFAR-class counts for the shipped and the broad synset choice."""
    imagenet = read_wnids(HERE / "imagenet_wnids.txt")
    wordnet = WordNet(wordnet_dir or os.environ.get("WORDNET_DIR", DEFAULT_WORDNET_DIR))
    out = []
    for label, synsets in (("shipped", CIFAR10_SYNSETS), ("broad", CIFAR10_SYNSETS_BROAD)):
        rows = cifar10_related(wordnet, imagenet, synsets)
        per = {c: sum(r[3] == c for r in rows) for c in synsets}
        out.append(f"{label}: total {len(rows)}; " + ", ".join(
            f"{c} ({synsets[c]}): {n}" for c, n in per.items()))
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet-dir", default=None,
                        help=f"WordNet 3.0 dict directory (default $WORDNET_DIR or {DEFAULT_WORDNET_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="compare with the shipped files instead of writing them")
    args = parser.parse_args(argv)
    files = build(args.wordnet_dir)
    stale = []
    for name, text in files.items():
        path = HERE / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    print(summary(args.wordnet_dir))
    if stale:
        print(f"out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
