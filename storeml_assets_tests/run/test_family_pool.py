"""Which model family goes next when several processes train them, and which families wait for which."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from storeml_assets.family_pool import Schedule, family_dependencies


@dataclass(frozen=True)
class Family:
    name: str


def test_families_go_in_order_and_one_waits_for_the_family_it_reads_from() -> None:
    a, b, c = Family("a"), Family("b"), Family("c")
    schedule = Schedule([a, c, b], {"c": {"a"}})
    assert schedule.take() is a
    assert schedule.take() is b  # c waits for a, which is in flight


def test_a_waiting_family_is_handed_out_once_its_dependency_is_done() -> None:
    a, c = Family("a"), Family("c")
    schedule = Schedule([a, c], {"c": {"a"}})
    assert schedule.take() is a
    taken: list[Family | None] = []
    waiter = threading.Thread(target=lambda: taken.append(schedule.take(timeout=0.05)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not taken  # c is not handed out while a trains
    schedule.finish("a")
    waiter.join(5)
    assert taken == [c]
    assert schedule.take() is None  # nothing left


def test_a_stopped_schedule_hands_out_nothing() -> None:
    schedule = Schedule([Family("a")], {})
    schedule.stop()
    assert schedule.take() is None


def test_segmentation_waits_for_purchase_propensity_and_the_others_for_nothing() -> None:
    from storeml_assets.definitions import build_definitions
    from storeml_assets.runner import registered_families

    families = registered_families()
    deps = family_dependencies(build_definitions(), families)
    assert deps == {family.name: ({"purchase_propensity"} if family.name == "customer_segmentation" else set())
                    for family in families}
