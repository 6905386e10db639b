"""Resources every domain shares: the Postgres IO manager, storeml's database and MLflow tracking.

None takes a URL: each resolves its database from the settings at run time, so no connection
string ever shows in the UI or in run config.
"""

import dagster as dg

from storeml_assets.io.postgres_io_manager import PostgresIOManager
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.resources.postgres import PostgresResource

defs = dg.Definitions(
    resources={
        "io_manager": PostgresIOManager(database="storeml"),
        "storeml_db": PostgresResource(database="storeml"),
        "mlflow": MlflowTracking(),
    },
)
