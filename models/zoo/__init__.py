"""Zoo entries: one file per registered model."""
