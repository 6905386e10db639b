"""Review sentiment: three classes (negative 1-2 stars, neutral 3, positive 4-5) with calibrated
probabilities, read from a review's title and body, trained and governed by the generic lifecycle
(:mod:`storeml_assets.sentiment.family`), and written to ``features.review_sentiment`` for analytics."""
