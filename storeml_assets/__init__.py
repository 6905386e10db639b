"""storeml: a Dagster asset-graph ML platform for an e-commerce storefront."""

import warnings

# storeml deliberately uses Dagster APIs still marked beta/preview (backfill policies, pools);
# their warnings would only repeat that on every import. Matched by message so that importing a
# plain module (the rule miner, the simulator) does not import Dagster.
warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
