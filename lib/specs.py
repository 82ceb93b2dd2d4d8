"""The value types every layer shares: a training recipe and a dataset with its
builder options (design.md §3). Standard library only, so that the Makefile's
parameter check (:mod:`lib.presets`) runs before anything is installed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lib.validation import check_choice


@dataclass(frozen=True)
class Recipe:
    """An SGD training recipe (paper §3.2, §4): Nesterov momentum 0.9, weight
    decay 5e-4, cosine learning rate stepped per batch, batch size 128.

    ``tune`` is ``"all"`` (whole network) or ``"last_layer"`` (only the new
    classifier); ``augment`` turns on random crop (zero padding 4) and flips.
    """

    epochs: int
    lr: float
    dropout: float = 0.0
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    augment: bool = True
    tune: str = "all"

    def __post_init__(self):
        check_choice("tune", self.tune, ("all", "last_layer"))
        if self.epochs < 1 or self.lr <= 0 or self.batch_size < 1:
            raise ValueError(f"invalid recipe {self}: epochs, lr and batch_size must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DataSpec:
    """A registered dataset plus its builder options (see ``lib.data.get_dataset``)."""

    name: str
    options: tuple = ()  # sorted (key, value) pairs, hashable

    @staticmethod
    def of(name: str, **options) -> "DataSpec":
        return DataSpec(name, tuple(sorted(options.items())))

    def kwargs(self) -> dict:
        return dict(self.options)

    def to_dict(self) -> dict:
        return {"name": self.name, "options": dict(self.options)}
