"""Customer segmentation: lifecycle segments of the storefront's customers ("new", "hibernating") and
behavioural segments of the buying customers clustered on their recency, frequency and activity, each named
from its centroid in business terms ("champions", "loyal", "at risk"...), on the generic model lifecycle."""
