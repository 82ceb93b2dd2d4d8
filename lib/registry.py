"""A name → object registry, the one pattern behind every "by name" lookup
(issue 24, item 3): datasets, presets, architectures, training objectives and
transforms, attacks, OOD scores, calibration methods, sections, section
methods and releases. One style: ``@REGISTRY.register(name)`` (or
``REGISTRY.add(name, item)`` for a value) to register, a module-level
``list_<kind>()`` (:meth:`Registry.names`) to enumerate, and an unknown name
fails with the parameter, the value and the valid names. A registry reads like
a dict (``REGISTRY[name]``, ``in``, iteration, ``items()``; item assignment
replaces an entry, as tests do with ``monkeypatch.setitem``).

Registration is explicit: a registry lists the modules that provide its
entries (``providers``) and imports them itself before its first lookup, so
``RunConfig(objective="glc")`` works in a fresh process whatever was
imported before (no registration by import side effect of the caller)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from lib.validation import check_choice

T = TypeVar("T")
_MISSING = object()


class Registry(Generic[T]):
    """Objects of one ``kind`` by name, in registration order."""

    def __init__(self, kind: str, providers: tuple[str, ...] = ()):
        self.kind = kind
        self.providers = tuple(providers)
        self._items: dict[str, T] = {}
        self._loaded = not self.providers

    def _load(self) -> None:
        """Import every provider module once (they add their entries)."""
        if not self._loaded:
            self._loaded = True  # set first: a provider may look names up while it loads
            import importlib

            try:
                for module in self.providers:
                    importlib.import_module(module)
            except BaseException:
                self._loaded = False  # a failed import fails again, not as "unknown name"
                raise

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda item: self.add(name, item)

    def get(self, name: str, default=_MISSING) -> T:
        """The entry ``name``; an unknown one fails listing the valid names
        (or gives ``default`` when one is passed, as ``dict.get``)."""
        self._load()
        if default is not _MISSING and name not in self._items:
            return default
        check_choice(self.kind, name, self._items)
        return self._items[name]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __setitem__(self, name: str, item: T) -> None:
        self._load()
        self._items[name] = item

    def __delitem__(self, name: str) -> None:
        self._load()
        del self._items[name]

    def names(self) -> list[str]:
        self._load()
        return list(self._items)

    def keys(self):
        self._load()
        return self._items.keys()

    def items(self):
        self._load()
        return self._items.items()

    def values(self):
        self._load()
        return self._items.values()

    def __contains__(self, name) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(self._items)

    def __len__(self) -> int:
        self._load()
        return len(self._items)
