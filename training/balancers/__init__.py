"""Balancers: how the per-task gradients of one step become one update (DESIGN.md, Training).

>>> from mtlzoo.training import balancers
>>> balancers.names()
('edm', 'gradnorm', 'hybrid', 'mgda', 'mgda_ub', 'pcgrad', 'static', 'uncertainty', 'uniform')
>>> balancers.get({"class_name": "gradnorm", "config": {"alpha": 0.5}}).alpha
0.5
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mtlzoo.registry import Registry
from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.edm import EDM
from mtlzoo.training.balancers.grad_norm import GradNorm
from mtlzoo.training.balancers.hybrid import Hybrid
from mtlzoo.training.balancers.mgda import MGDA
from mtlzoo.training.balancers.mgda_ub import MGDAUB
from mtlzoo.training.balancers.min_norm_balancer import MinNormBalancer
from mtlzoo.training.balancers.pcgrad import PCGrad
from mtlzoo.training.balancers.static import Static
from mtlzoo.training.balancers.uncertainty import Uncertainty
from mtlzoo.training.balancers.uniform import Uniform

REGISTRY = Registry("balancer", base=Balancer)
for _name, _cls in (("uniform", Uniform), ("static", Static), ("uncertainty", Uncertainty),
                    ("gradnorm", GradNorm), ("mgda", MGDA), ("mgda_ub", MGDAUB), ("hybrid", Hybrid),
                    ("pcgrad", PCGrad), ("edm", EDM)):
    REGISTRY.register(_name, _cls)


def names() -> tuple[str, ...]:
    """The registered balancer names."""
    return REGISTRY.names()


def get(identifier: Any, **kwargs: Any) -> Balancer:
    """A balancer from a name, a ``{"class_name", "config"}`` dict (registry name or Keras
    serialization) or an instance.

    Args:
        identifier: e.g. ``"mgda_ub"``, ``{"class_name": "gradnorm", "config": {"alpha": 1.0}}``.
        **kwargs: constructor arguments (with a name).
    """
    if isinstance(identifier, Mapping) and identifier.get("class_name") not in REGISTRY \
            and identifier.get("name") not in REGISTRY:
        import keras

        obj = keras.saving.deserialize_keras_object(dict(identifier))
        if not isinstance(obj, Balancer):
            raise ValueError(f"{identifier!r} does not describe a balancer; known: {', '.join(names())}.")
        return obj
    return REGISTRY.get(identifier, **kwargs)


__all__ = ["EDM", "MGDA", "MGDAUB", "Balancer", "GradNorm", "Hybrid", "MinNormBalancer", "PCGrad", "Static",
           "Uncertainty", "Uniform", "get", "names"]
