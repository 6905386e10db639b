"""Raw frames for the feature tests: simulated storefront tables shaped like ``raw.<table>``."""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from storeml_assets.features.customer import RAW_COLUMNS
from storeml_assets.synthetic.simulator import SimulatedData, SimulationConfig, simulate


@lru_cache(maxsize=4)
def simulated(scale: str = "tiny", seed: int = 7, drift: bool = False) -> SimulatedData:
    return simulate(SimulationConfig(seed=seed, scale=scale, drift=drift))


def raw_frames(data: SimulatedData) -> dict[str, pl.DataFrame]:
    """The simulated source tables as the extract writes them (order_items carry ``ordered_at``)."""
    frames: dict[str, pl.DataFrame] = {}
    for name in RAW_COLUMNS:
        frame = data.table(name)
        if name == "order_items":
            frame = frame.join(data.table("orders").select("order_id", "ordered_at"), on="order_id", how="left")
        frames[name] = frame
    return frames
