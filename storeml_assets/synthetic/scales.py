"""Scale presets of the storefront simulator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalePreset:
    """Target sizes of one simulated storefront."""

    name: str
    n_users: int
    n_orders: int
    n_products: int


SCALES: dict[str, ScalePreset] = {
    "tiny": ScalePreset("tiny", n_users=500, n_orders=5_000, n_products=200),
    "small": ScalePreset("small", n_users=5_000, n_orders=50_000, n_products=1_000),
    "medium": ScalePreset("medium", n_users=50_000, n_orders=500_000, n_products=3_000),
    "large": ScalePreset("large", n_users=100_000, n_orders=1_000_000, n_products=5_000),
}


def scale_preset(name: str) -> ScalePreset:
    """The preset called ``name``; a clear error for an unknown one."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None
