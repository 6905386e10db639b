"""The forecaster: statsforecast's AutoETS, AutoARIMA, MSTL and weekly seasonal naive as candidates, one
chosen per series by rolling-origin cross-validation (lowest mean absolute error over the windows), refit
on the whole history for the 28 days ahead, with 80% and 95% prediction intervals.

The rolling-origin run (:func:`cross_validate`) is shared: it gives every candidate's forecasts at every
origin, so the model choice, the backtest of the choice and the seasonal-naive baseline all come out of
one run. It fits each candidate once per series and carries the fit forward to the later origins, in one
process per CPU; the refit on the whole history fits only each series' chosen model. :class:`DemandForecaster`
is the MLflow model: its fitted state is the choice per series and the stored forecast (plain pandas), and
``predict`` serves the stored forecast of the requested series.
"""

from __future__ import annotations

import functools
import logging
import math
import signal
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from mlflow.pyfunc.model import PythonModel

from storeml_assets.forecasting.data import HORIZON, SEASON_LENGTH

LEVELS = (80, 95)
#: Candidate models by name; a series' model is one of these.
CANDIDATES = ("AutoETS", "AutoARIMA", "MSTL", "SeasonalNaive")
BASELINE = "SeasonalNaive"
#: The forecast of a series whose history is all zeros.
ZERO_MODEL = "Zero"
INTERVAL_COLUMNS = ("lower_80", "upper_80", "lower_95", "upper_95")

#: Cross-validation fits each candidate once per series, on the days before the first origin, and carries the
#: fitted model forward to the later origins (statsforecast's ``refit=False``: the parameters of the first fit,
#: the state updated on the data up to each origin). ``True`` refits at every origin, an integer every k origins.
CV_REFIT: bool | int = False
#: Fewest series per worker process: below it a second process costs more than it saves.
MIN_SERIES_PER_JOB = 8

log = logging.getLogger(__name__)


def jobs(n_series: int) -> int:
    """Worker processes for statsforecast over ``n_series`` series: one per CPU this process may use, at most
    one per :data:`MIN_SERIES_PER_JOB` series."""
    from storeml_assets.settings import usable_cores

    return max(1, min(usable_cores(), n_series // MIN_SERIES_PER_JOB))


def make_model(name: str, season_length: int = SEASON_LENGTH) -> Any:
    """One statsforecast model by candidate name. AutoARIMA's search is bounded (orders up to 2, seasonal up
    to 1, the approximate likelihood). AutoETS keeps the error and the season additive (a series with zeros has
    no multiplicative season) and searches the trend (none, additive, damped): the multiplicative-error half of
    its search took 40% of its time and won nothing, neither on the simulated storefront nor on the synthetic
    series of the benchmark (docs/families/forecasting.md)."""
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, SeasonalNaive

    if name == "AutoETS":
        return AutoETS(season_length=season_length, model="AZA", alias=name)
    if name == "AutoARIMA":
        return AutoARIMA(season_length=season_length, max_p=2, max_q=2, max_P=1, max_Q=1, max_order=4,
                         approximation=True, nmodels=8, alias=name)
    if name == "MSTL":
        return MSTL(season_length=[season_length], trend_forecaster=AutoETS(model="ZZN"), alias=name)
    if name == "SeasonalNaive":
        return SeasonalNaive(season_length=season_length, alias=name)
    raise ValueError(f"unknown forecasting model {name!r}; choose from {', '.join(CANDIDATES)}")


def _quiet_worker() -> None:
    """A pool worker's start: SIGTERM ends it. It would otherwise keep the handler it inherits from a command
    running a Dagster run (:mod:`storeml_assets.run_guard` turns SIGTERM into KeyboardInterrupt there), and
    the pool's close, which terminates its workers, would print a KeyboardInterrupt traceback per worker."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@functools.cache
def _statsforecast_class() -> Any:
    """StatsForecast whose multiprocessing pools start their workers with :func:`_quiet_worker`."""
    from statsforecast import StatsForecast

    class QuietStatsForecast(StatsForecast):
        def _get_pool(self) -> tuple[Any, dict[str, Any]]:
            pool, kwargs = super()._get_pool()
            return pool, {**kwargs, "initializer": _quiet_worker}

    return QuietStatsForecast


def _statsforecast(models: Sequence[str], n_jobs: int = 1) -> Any:
    return _statsforecast_class()(models=[make_model(m) for m in models], freq="D", n_jobs=n_jobs,
                                  fallback_model=make_model(BASELINE))


def _pandas(frame: pl.DataFrame) -> pd.DataFrame:
    out = frame.select("unique_id", "ds", "y").to_pandas()
    out["ds"] = pd.to_datetime(out["ds"])
    return out


def cross_validate(series: pl.DataFrame, models: Sequence[str], windows: int, horizon: int = HORIZON,
                   zero_series: Sequence[str] = (), refit: bool | int = CV_REFIT,
                   n_jobs: int | None = None) -> pd.DataFrame:
    """Rolling-origin forecasts of every model: ``windows`` origins one ``horizon`` apart, ending at the
    last day, each model fitted as ``refit`` says (:data:`CV_REFIT`) in ``n_jobs`` processes (default
    :func:`jobs`; a carry-forward that fails, which statsforecast's fallback model does not cover, is logged
    and the run refits at every origin instead). Columns unique_id, ds, cutoff, y and, per model, the forecast
    and ``<model>-lo-80`` ... ``<model>-hi-95``; a series of zeros is forecast as zeros by every model."""
    live = series.filter(~pl.col("unique_id").is_in(list(zero_series)))
    workers = jobs(live.get_column("unique_id").n_unique()) if n_jobs is None else n_jobs
    frame = _pandas(live)
    with warnings.catch_warnings():  # statsforecast warns per series when a fit is degenerate or falls back
        warnings.simplefilter("ignore")
        try:
            cv = _statsforecast(models, workers).cross_validation(df=frame, h=horizon, step_size=horizon,
                                                                  n_windows=windows, level=list(LEVELS), refit=refit)
        except Exception as exc:
            # statsforecast's fallback model covers a failed fit, not a failed carry-forward of a fitted model
            if refit is True:
                raise
            log.warning("cross-validation carrying each fit forward failed (%s: %s); refitting every model at "
                        "every origin instead", type(exc).__name__, exc)
            cv = _statsforecast(models, workers).cross_validation(df=frame, h=horizon, step_size=horizon,
                                                                  n_windows=windows, level=list(LEVELS), refit=True)
    cv = cv.reset_index() if "unique_id" not in cv.columns else cv
    if zero_series:
        dead = _pandas(series.filter(pl.col("unique_id").is_in(list(zero_series))))
        cutoffs = sorted(cv["cutoff"].unique())
        parts = []
        for cutoff in cutoffs:
            window = dead[(dead["ds"] > cutoff) & (dead["ds"] <= cutoff + pd.Timedelta(days=horizon))].copy()
            window["cutoff"] = cutoff
            parts.append(window)
        zeros = pd.concat(parts, ignore_index=True)
        for m in models:
            for column in [m, *(f"{m}-{side}-{level}" for side in ("lo", "hi") for level in LEVELS)]:
                zeros[column] = 0.0
        cv = pd.concat([cv, zeros[cv.columns]], ignore_index=True)
    for m in models:  # units are never negative: clip forecasts and bounds at zero
        for column in [m, *(f"{m}-{side}-{level}" for side in ("lo", "hi") for level in LEVELS)]:
            cv[column] = cv[column].clip(lower=0.0)
    return cv.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)


def choose(cv: pd.DataFrame, models: Sequence[str], before: pd.Timestamp | None = None) -> dict[str, str]:
    """Per series, the model with the lowest mean absolute error over the windows whose origin is before
    ``before`` (every window when None); ties go to the earlier model of ``models``."""
    rows = cv if before is None else cv[cv["cutoff"] < before]
    errors = pd.DataFrame({m: (rows[m] - rows["y"]).abs() for m in models})
    errors["unique_id"] = rows["unique_id"].to_numpy()
    mae = errors.groupby("unique_id")[list(models)].mean()
    return {str(uid): str(models[int(np.nanargmin(row))]) if np.isfinite(row).any() else BASELINE
            for uid, row in zip(mae.index, mae.to_numpy(), strict=True)}


def selected(cv: pd.DataFrame, models: Sequence[str], first_origin: pd.Timestamp) -> pd.DataFrame:
    """The backtest of choosing by cross-validation: for each origin from ``first_origin`` on, every series'
    forecast by the model the windows before that origin chose. Columns unique_id, ds, cutoff, y, model,
    forecast, lower_80, upper_80, lower_95, upper_95."""
    parts = []
    for cutoff in sorted(c for c in cv["cutoff"].unique() if c >= first_origin):
        choice = choose(cv, models, before=cutoff)
        window = cv[cv["cutoff"] == cutoff]
        parts.append(pick(window, window["unique_id"].map(choice).fillna(BASELINE)))
    return pd.concat(parts, ignore_index=True)


def pick(window: pd.DataFrame, model: pd.Series) -> pd.DataFrame:
    """Each row's forecast and bounds from the columns of the model named in ``model``."""
    out = window[["unique_id", "ds", "cutoff", "y"]].copy()
    out["model"] = model.to_numpy()
    for target, suffix in (("forecast", ""), ("lower_80", "-lo-80"), ("upper_80", "-hi-80"),
                           ("lower_95", "-lo-95"), ("upper_95", "-hi-95")):
        values = np.full(len(window), np.nan)
        for name in out["model"].unique():
            mask = (out["model"] == name).to_numpy()
            values[mask] = window[f"{name}{suffix}"].to_numpy()[mask]
        out[target] = values
    return out


def baseline(cv: pd.DataFrame, first_origin: pd.Timestamp, name: str = BASELINE) -> pd.DataFrame:
    """One candidate's backtest from ``first_origin`` on, in the shape of :func:`selected`."""
    window = cv[cv["cutoff"] >= first_origin]
    return pick(window, pd.Series([name] * len(window)))


@dataclass(frozen=True)
class Scores:
    mase: float
    wape: float
    bias: float
    coverage_80: float
    coverage_95: float

    def as_dict(self) -> dict[str, float]:
        return {"mase": self.mase, "wape": self.wape, "bias": self.bias, "coverage_80": self.coverage_80,
                "coverage_95": self.coverage_95}


def seasonal_scale(series: pl.DataFrame, until: Any, season_length: int = SEASON_LENGTH) -> dict[str, float]:
    """Per series, the in-sample mean absolute error of the seasonal naive before ``until`` (MASE's scale)."""
    history = series.filter(pl.col("ds") < until).sort("unique_id", "ds")
    diffs = history.with_columns((pl.col("y") - pl.col("y").shift(season_length).over("unique_id")).abs().alias("e"))
    scale = diffs.group_by("unique_id").agg(pl.col("e").mean())
    return {str(u): float(e) for u, e in scale.iter_rows() if e is not None}


def score(backtest: pd.DataFrame, scale: dict[str, float], forecast: str = "forecast") -> Scores:
    """MASE (mean over series with a non-zero scale), WAPE and bias (pooled: sum |error| / sum actual,
    sum (forecast - actual) / sum actual), and the share of actuals inside the 80% and 95% intervals
    (NaN when the frame has no bounds)."""
    y = backtest["y"].to_numpy(dtype=np.float64)
    f = backtest[forecast].to_numpy(dtype=np.float64)
    total = float(np.abs(y).sum())
    wape = float(np.abs(f - y).sum() / total) if total > 0 else math.nan
    bias = float((f - y).sum() / total) if total > 0 else math.nan
    errors = pd.DataFrame({"unique_id": backtest["unique_id"].to_numpy(), "e": np.abs(f - y)})
    mae = errors.groupby("unique_id")["e"].mean()
    ratios = [v / scale[u] for u, v in mae.items() if scale.get(str(u), 0.0) > 0]
    mase = float(np.mean(ratios)) if ratios else math.nan
    coverage = {}
    for level in LEVELS:
        lo, hi = f"lower_{level}", f"upper_{level}"
        if lo in backtest.columns and forecast == "forecast":
            inside = (y >= backtest[lo].to_numpy()) & (y <= backtest[hi].to_numpy())
            coverage[level] = float(inside.mean()) if len(y) else math.nan
        else:
            coverage[level] = math.nan
    return Scores(mase, wape, bias, coverage[80], coverage[95])


def forecast_ahead(series: pl.DataFrame, choices: dict[str, str], horizon: int = HORIZON,
                   zero_series: Sequence[str] = (), n_jobs: int | None = None) -> pd.DataFrame:
    """Each series' next ``horizon`` days by its chosen model fitted on its whole history (only that model:
    the series are grouped by their choice), in ``n_jobs`` processes (default :func:`jobs`): columns series,
    date, forecast, lower_80, upper_80, lower_95, upper_95, model (bounds and forecast clipped at 0)."""
    last = series.get_column("ds").max()
    parts = []
    dead = set(zero_series)
    zero = [u for u in series.get_column("unique_id").unique().to_list() if u in dead]
    for name in sorted(set(choices.values())):
        ids = [u for u, m in choices.items() if m == name and u not in dead]
        if not ids:
            continue
        workers = jobs(len(ids)) if n_jobs is None else n_jobs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _statsforecast([name], workers).forecast(
                df=_pandas(series.filter(pl.col("unique_id").is_in(ids))), h=horizon, level=list(LEVELS))
        out = out.reset_index() if "unique_id" not in out.columns else out
        out["model"] = name
        parts.append(out.rename(columns={name: "forecast", f"{name}-lo-80": "lower_80", f"{name}-hi-80": "upper_80",
                                         f"{name}-lo-95": "lower_95", f"{name}-hi-95": "upper_95"}))
    if zero:
        dates = pd.date_range(pd.Timestamp(last) + pd.Timedelta(days=1), periods=horizon)
        frame = pd.DataFrame({"unique_id": np.repeat(zero, horizon), "ds": np.tile(dates, len(zero))})
        for column in ("forecast", *INTERVAL_COLUMNS):
            frame[column] = 0.0
        frame["model"] = ZERO_MODEL
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True).rename(columns={"unique_id": "series", "ds": "date"})
    for column in ("forecast", *INTERVAL_COLUMNS):
        out[column] = out[column].astype(np.float64).clip(lower=0.0)
    out["date"] = pd.to_datetime(out["date"]).dt.date
    return out[["series", "date", "forecast", *INTERVAL_COLUMNS, "model"]].sort_values(
        ["series", "date"], ignore_index=True)


class DemandForecaster(PythonModel):
    """The fitted forecaster: the candidates it chose among, the model per series and the stored forecast.

    ``predict`` takes a DataFrame with a ``series`` column (``category:<id>`` or ``product:<id>``) and an
    optional ``horizon`` (days, 1..28, default 28) and returns the stored forecast of those series: series,
    date, forecast, lower_80, upper_80, lower_95, upper_95, model.
    """

    def __init__(self, candidates: Sequence[str], choices: dict[str, str], forecast: pd.DataFrame,
                 zero_series: Sequence[str], horizon: int = HORIZON) -> None:
        self.candidates = tuple(candidates)
        self.choices = dict(choices)
        self.forecast = forecast
        self.zero_series = list(zero_series)
        self.horizon = horizon

    @property
    def default_model(self) -> str:
        """The model of a series the forecaster never saw: the one it chose most often."""
        counts = pd.Series([m for m in self.choices.values() if m != ZERO_MODEL]).value_counts()
        return str(counts.index[0]) if len(counts) else BASELINE

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if "series" not in model_input.columns:
            raise ValueError(f"demand forecast input needs a 'series' column, got columns {list(model_input.columns)}")
        known = set(self.forecast["series"].unique())
        unknown = sorted({str(s) for s in model_input["series"]} - known)
        if unknown:
            raise ValueError(f"no demand forecast for series {unknown[:5]} (forecast series look like "
                             f"'category:<id>' or 'product:<id>')")
        horizons = (model_input["horizon"] if "horizon" in model_input.columns
                    else pd.Series([self.horizon] * len(model_input)))
        parts = []
        for series_id, horizon in zip(model_input["series"], horizons, strict=True):
            days = int(horizon)
            if not 1 <= days <= self.horizon:
                raise ValueError(f"horizon must be between 1 and {self.horizon} days, got {horizon!r} for {series_id!r}")
            parts.append(self.forecast[self.forecast["series"] == str(series_id)].head(days))
        return pd.concat(parts, ignore_index=True)
