"""Product recommendations: a collaborative-filtering family over implicit feedback (views, clicks, cart
adds, wishlists and purchases, weighted by strength and recency), evaluated on the purchases of the 14 days
after a cutoff beside global and recent popularity and the simulator's planted-taste oracle.

- :mod:`.data`: the interaction events, their weights and the time split.
- :mod:`.model`: the served model (an ``mlflow.pyfunc.PythonModel`` around an ``implicit`` recommender):
  recommendations for a customer, for an anonymous basket, and similar products.
- :mod:`.evaluation`: ranking metrics at 10, the popularity baselines and the oracle.
- :mod:`.family`: the family in the generic lifecycle (gates, drift, output table).
"""
