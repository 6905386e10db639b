"""The `synthetic` group: a seeded storefront simulator that fills the source databases.

Present only when ``STOREML_SOURCE_MODE=synthetic`` (the default); with real storefront
databases configured the group is absent and the source assets read the real ones.
"""

import time
from datetime import date

import dagster as dg
from pydantic import Field

from storeml_assets.keys import GROUND_TRUTH_KEYS, STOREFRONT_KEY, SYNTHETIC_GROUP
from storeml_assets.settings import get_settings
from storeml_assets.synthetic.loader import load
from storeml_assets.synthetic.simulator import DEFAULT_END_DATE, SimulationConfig, simulate

#: Bump when the simulator's output changes for the same config, so the UI flags the data as stale.
SIMULATOR_CODE_VERSION = "2"


class SimulatorConfig(dg.Config):
    """Knobs of one simulated storefront history."""

    seed: int = Field(default=42, description="Random seed; the same seed and settings give identical data.")
    scale: str = Field(
        default_factory=lambda: get_settings().scale,
        description="tiny (~500 users, 5k orders), small (5k/50k), medium (50k/500k) or large (100k/1M).",
    )
    days: int = Field(default=180, description="Days of history, ending with end_date.")
    end_date: str = Field(default=DEFAULT_END_DATE.isoformat(), description="Last day of the history (YYYY-MM-DD).")
    drift: bool = Field(default=False, description="Inject drift after the cut-over date.")
    drift_cutover: str | None = Field(
        default=None, description="First drifted day (YYYY-MM-DD); default 30 days before end_date."
    )
    n_bundles: int = Field(default=10, description="Number of product bundles planted in baskets.")

    def to_simulation(self) -> SimulationConfig:
        return SimulationConfig(
            seed=self.seed,
            scale=self.scale,
            days=self.days,
            end_date=date.fromisoformat(self.end_date),
            drift=self.drift,
            drift_cutover=date.fromisoformat(self.drift_cutover) if self.drift_cutover else None,
            n_bundles=self.n_bundles,
        )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            STOREFRONT_KEY,
            description="A simulated storefront history written into the five service databases.",
            group_name=SYNTHETIC_GROUP,
            kinds={"postgres"},
            owners=["team:data-engineering"],
            code_version=SIMULATOR_CODE_VERSION,
        ),
        *[
            dg.AssetSpec(
                key,
                description=f"Planted truth of the simulation: ground_truth.{name}.",
                group_name=SYNTHETIC_GROUP,
                kinds={"postgres"},
                owners=["team:data-engineering"],
                code_version=SIMULATOR_CODE_VERSION,
                skippable=False,
            )
            for name, key in GROUND_TRUTH_KEYS.items()
        ],
    ],
    name="simulated_storefront",
    op_tags={"storeml/heavy": "true"},
)
def simulated_storefront(context: dg.AssetExecutionContext, config: SimulatorConfig):
    """Simulate the storefront and replace the source databases' contents in one go."""
    sim = config.to_simulation()
    started = time.perf_counter()
    context.log.info(f"simulating {sim.scale} storefront, {sim.days} days ending {sim.end_date}, seed {sim.seed}")
    data = simulate(sim)
    generate_seconds = time.perf_counter() - started
    context.log.info(f"generated {sum(data.row_counts().values()):,} rows in {generate_seconds:.1f}s; loading")

    def progress(table: str, rows: int, seconds: float) -> None:
        context.log.info(f"loaded {table}: {rows:,} rows in {seconds:.2f}s")

    report = load(data, progress=progress)
    counts = data.row_counts()
    source_counts = {k: v for k, v in counts.items() if not k.startswith("ground_truth.")}
    yield dg.MaterializeResult(
        asset_key=STOREFRONT_KEY,
        metadata={
            "dagster/row_count": sum(source_counts.values()),
            "scale": sim.scale,
            "seed": sim.seed,
            "history": f"{sim.start_date} .. {sim.end_date}",
            "drift": sim.drift,
            "drift_cutover": str(sim.cutover) if sim.drift else "",
            "generate_seconds": round(generate_seconds, 2),
            "load_seconds": round(report.seconds, 2),
            "row_counts": dg.MetadataValue.json(source_counts),
        },
    )
    for name, key in GROUND_TRUTH_KEYS.items():
        rows = counts.get(f"ground_truth.{name}", 1 if name == "simulation_runs" else 0)
        yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": rows})


SYNTHETIC_ASSETS = [simulated_storefront]
