"""``multimnist_lenet``: seed 002's MultiMNIST LeNet (shared trunk, two FC heads).

``dropout=0.5`` places dropout where the MGDA-UB authors' public training code
(Sener & Koltun, ``multi_task/models/multi_lenet.py``, classes ``MultiLeNetR``
and ``MultiLeNetO``; read, not copied) applies its masks:

- trunk: a *channel* mask on the second conv layer's output, before its
  max-pool and ReLU (``conv2_dropout``, Keras ``SpatialDropout2D``); both
  commute with a non-negative per-channel factor, so the place inside
  conv2 -> pool -> ReLU does not matter;
- each head: an element mask on the output of its first FC layer (after the
  ReLU), before the logits (the head's ``Dropout`` layer).

The trunk's mask is one per step and shared by every task (the trunk is one
block, computed once per step). Each head draws its *own* mask: in the authors'
step every head is first called with ``mask=None`` (a fresh Bernoulli draw per
task) and the same per-task mask is passed back for the weighted backward pass.
Here the balancer's gradients and the update come from one forward pass, so
every mask is automatically the same in both, as in theirs.

Their masks and Keras' differ in two ways, both departures stated here:

1. **Scaling.** The authors multiply by an unscaled 0/1 Bernoulli(0.5) mask
   in training and by nothing at test time (their hand-written mask replaces
   ``F.dropout2d``/``F.dropout``, which would be inverted like Keras'). Keras'
   dropout is *inverted*: kept units are multiplied by ``1 / (1 - p)`` = 2 in
   training, and the layer is the identity at test time. In training the two
   differ only by the factor ``1 / (1 - p)``, which a following linear layer
   can absorb into its weights (an unscaled mask with weights ``W`` computes
   what an inverted mask with ``(1 - p) W`` computes); at test time the
   authors' next layer receives ``1 / (1 - p)`` = 2 times the input it saw on
   average in training, while the inverted mask keeps train and test inputs of
   the same expected size. This entry uses **Keras' inverted dropout**. One
   consequence: weights trained with dropout load into the ``dropout=0``
   network unchanged and give the same test outputs.
2. **Mask granularity.** Their channel mask has shape (1, C, 1, 1): one draw
   per channel for the whole batch. ``SpatialDropout2D`` draws one per channel
   and *example*. The head masks are per example and unit in both.

``dropout=0`` (the default) leaves both layers out: the network of the earlier
releases. The parameter count does not depend on ``dropout`` (27,450 at width 10).
"""

from __future__ import annotations

from collections.abc import Sequence

from mtlzoo.models import register
from mtlzoo.models.backbones.lenet import lenet_features
from mtlzoo.models.zoo_entry import ZooEntry


def build(tasks: Sequence[str] = ("left", "right"), width: int = 10, num_classes: int = 10,
          input_shape: Sequence[int] = (28, 28, 1), dropout: float = 0.0, name: str = "multimnist_lenet"):
    """LeNet trunk (conv 10@5x5, pool, ReLU, conv 20@5x5, pool, ReLU, FC 320->50, ReLU) shared by
    all tasks; per task FC 50->50, ReLU, FC 50->10 (seed 002 §4.1 and its supplement).

    Args:
        tasks: task names (one classification head each).
        width: first conv's filters; the trunk is (w, 2w, 5w), heads 5w -> 5w -> classes.
        num_classes: classes per task.
        input_shape: one sample's shape.
        dropout: the authors' dropout (module docstring): channel dropout after conv2 and
            dropout after each head's first FC layer, both at this rate; 0 leaves them out.
        name: the model's name.

    Example:
        >>> net = build(width=2, dropout=0.5)
        >>> [layer.name for layer in net.block_layer("trunk").layers][3:5]
        ['conv2', 'conv2_dropout']
    """
    from mtlzoo.heads import ClassificationHead
    from mtlzoo.training import MultiTaskModel

    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"multimnist_lenet: dropout must be in [0, 1), got {dropout}; 0 turns it off, "
                         f"0.5 is the authors'.")
    heads = {t: ClassificationHead(num_classes, hidden_units=(5 * width,), dropout=float(dropout), name=f"head_{t}")
             for t in tasks}
    return MultiTaskModel.shared_trunk(lenet_features(width, name="trunk", dropout=float(dropout)), heads,
                                       input_shape=input_shape, input_name="image", name=name)


ENTRY = register(ZooEntry(
    name="multimnist_lenet",
    builder=build,
    description="LeNet with a shared trunk and a 2-layer FC head per digit (MultiMNIST).",
    seed="002 §4.1",
    defaults={"tasks": ("left", "right"), "width": 10, "num_classes": 10, "input_shape": (28, 28, 1),
              "dropout": 0.0, "name": "multimnist_lenet"},
    recipe={"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.01, "momentum": 0.9}},
            "loss": "sparse_categorical_crossentropy_from_logits", "metrics": ["accuracy"],
            "balancer": "mgda_ub", "data": "multimnist"},
))
