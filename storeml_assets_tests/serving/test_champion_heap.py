"""The heap after a champion load: garbage collected, survivors frozen out of the collector's full passes
(which otherwise walk every library and model object while holding the GIL, on a request's time)."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storeml_assets.serving.champions import ChampionStore, Registry, settle_heap
from storeml_assets.serving.families import registered_families


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the session collects as usual


def _garbage_cycle() -> weakref.ref[_Cycle]:
    return weakref.ref(_Cycle())  # unreachable at once, freed only by the cyclic collector


def test_loading_the_cached_champion_collects_then_freezes(tmp_path: Path, unfrozen: None) -> None:
    family = next(f for f in registered_families() if f.name == "purchase_propensity")
    folder = tmp_path / family.name / "v3"
    folder.mkdir(parents=True)
    (tmp_path / family.name / "current.json").write_text(json.dumps({"version": "3", "path": "v3"}))
    model: dict[str, Any] = {"weights": [1.0, 2.0]}
    store = ChampionStore([family], Registry("file:///nowhere"), tmp_path, loader=lambda _path: model)
    gc.disable()  # no automatic pass may collect the cycle before the load does
    try:
        before = _garbage_cycle()
        assert before() is not None
        store.load_cached()
    finally:
        gc.enable()
    loaded = store.get(family.name)
    assert loaded is not None and loaded.model is model and loaded.version == "3"
    assert before() is None  # the start's garbage is collected by the load, not by a request's full pass
    assert gc.get_freeze_count() > 0  # and the survivors (the model among them) are out of the collector's walk


def test_a_swap_unfreezes_so_the_old_models_cycles_are_reclaimed(unfrozen: None) -> None:
    gc.disable()
    try:
        old_model = _Cycle()
        gone = weakref.ref(old_model)
        settle_heap()  # the old model is loaded: frozen with everything else
        del old_model  # swapped out: unreachable, but frozen objects are never collected
        settle_heap()
        assert gone() is not None  # a load that replaces nothing leaves the frozen heap alone
        settle_heap(reclaim=True)
        assert gone() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
