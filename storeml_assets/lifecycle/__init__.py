"""The generic model lifecycle: a model family is declared once (:class:`~storeml_assets.lifecycle.family.ModelFamily`)
and registered in :mod:`storeml_assets.lifecycle.registry`; the domains build its assets, job and sensor from it."""
