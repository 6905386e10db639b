"""``storeml serve``: the prediction and analytics API that follows each family's champion.

- :mod:`~storeml_assets.serving.config`: the service's configuration (from the settings);
- :mod:`~storeml_assets.serving.families`: the served families (an adapter over the lifecycle registry);
- :mod:`~storeml_assets.serving.champions`: champion loading, hot reload and the on-disk cache;
- :mod:`~storeml_assets.serving.predlog`: the bounded, asynchronous prediction log;
- :mod:`~storeml_assets.serving.database`: the lazy bounded pool and the id/analytics reads;
- :mod:`~storeml_assets.serving.app`: :func:`create_app` and its routers (``routers/``).

Everything but ``app``, ``deps`` and ``routers`` is plain Python that knows nothing of FastAPI.
"""
