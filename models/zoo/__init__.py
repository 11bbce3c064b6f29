"""Zoo entries: one file per registered model, each calling ``register(ZooEntry(...))`` at its bottom;
``mtlzoo.models`` imports every module here, so a new entry is one file."""
