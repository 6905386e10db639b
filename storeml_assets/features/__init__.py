"""The features domain: customer features and the labelled training set every model family trains on."""
