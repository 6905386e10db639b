"""Every model family of the code location. Adding a family: a new module declaring its
:class:`~storeml_assets.lifecycle.family.ModelFamily`, and one line here."""

from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.models import purchase_propensity

FAMILIES: tuple[ModelFamily, ...] = (
    purchase_propensity.FAMILY,
)
