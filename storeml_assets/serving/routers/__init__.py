"""One router per concern: health, predict, analytics, v2 (Open Inference Protocol), metrics."""
