"""Names that domains share: asset keys, group, job, check, sensor and model names.

Domains talk to each other through this module and the ``storeml_assets.mlops`` data-access
package; a domain never imports another domain's assets, jobs, sensors or store modules to learn
a name.
"""

from __future__ import annotations
