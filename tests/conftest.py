"""Shared pytest setup: quiet TensorFlow, a fresh Keras session and fixed seeds for every test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from a cleared Keras session (fresh layer names) and seed 0."""
    import keras

    from mtlzoo.testing import seed_everything

    keras.backend.clear_session(free_memory=False)  # reset names; skip the slow gc pass
    seed_everything(0)
    yield
