"""Demand forecasting: daily units per leaf category and per top-N product, 28 days ahead with 80% and
95% prediction intervals, one statsforecast model (AutoETS, AutoARIMA, MSTL or seasonal naive) chosen per
series by rolling-origin cross-validation; evaluated on a rolling-origin backtest beside the weekly
seasonal naive and the simulator's expected demand (the oracle)."""
