"""Bundle rules: association-rule mining over baskets (group `bundles`)."""
