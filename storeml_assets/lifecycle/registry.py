"""Every model family of the code location. Adding a family: a new module declaring its
:class:`~storeml_assets.lifecycle.family.ModelFamily` (a binary classifier over customer features) or its
:class:`~storeml_assets.lifecycle.generic.GenericFamily` (a family in its own terms), and one line here."""

from storeml_assets.forecasting import family as demand_forecast
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.generic import GenericFamily
from storeml_assets.models import purchase_propensity
from storeml_assets.recommendations import family as recommendations
from storeml_assets.segmentation import family as segmentation
from storeml_assets.sentiment import family as sentiment

FAMILIES: tuple[ModelFamily, ...] = (
    purchase_propensity.FAMILY,
)

#: Families judged in their own metrics, each in its own asset group (:mod:`storeml_assets.lifecycle.assets`).
GENERIC_FAMILIES: tuple[GenericFamily, ...] = (
    recommendations.FAMILY,
    sentiment.FAMILY,
    demand_forecast.FAMILY,
    segmentation.FAMILY,
)
