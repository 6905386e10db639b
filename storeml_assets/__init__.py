"""storeml: a Dagster asset-graph ML platform for an e-commerce storefront."""

import warnings

import dagster as dg

# storeml deliberately uses Dagster APIs still marked beta/preview (backfill policies, pools);
# their warnings would only repeat that on every import.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
