"""Cityscapes training targets in TensorFlow ops: trainIds, instance-centre offsets, disparity.

Following Sener & Koltun's ``cityscapes_loader.py`` (seed 002 §4.3, after Kendall et al. 2018):

- semantic: Cityscapes ``labelIds`` mapped to the 19 evaluation classes
  (``trainId``); every other id is "ignore": the label becomes 0 with weight 0.
- instance: for each pixel of an object instance (``instanceIds >= 1000``, of a
  class with a trainId), the offset ``(dy, dx) = (y, x) - centre of mass of its
  instance``, in pixels of the output image; other pixels get weight 0.
- disparity: Cityscapes' 16-bit PNGs store ``p = 256 * d + 1`` (``p = 0``:
  invalid), so ``d = (p - 1) / 256`` pixels where ``p > 0``, weight 0 elsewhere.

>>> import numpy as np
>>> labels, weights = semantic_targets(np.array([[7, 0, 33]], np.uint8))
>>> labels.numpy().tolist(), weights.numpy().tolist()
([[0, 0, 18]], [[1.0, 0.0, 1.0]])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: The labelIds of the 19 evaluation classes, in trainId order (road ... bicycle).
TRAIN_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
IGNORE = 255


def train_id_table() -> np.ndarray:
    """A 256-entry lookup table: labelId -> trainId, 255 for ignored ids.

    Example:
        >>> table = train_id_table()
        >>> int(table[7]), int(table[26]), int(table[0])
        (0, 13, 255)
    """
    table = np.full(256, IGNORE, np.int32)
    table[list(TRAIN_LABEL_IDS)] = np.arange(len(TRAIN_LABEL_IDS))
    return table


def semantic_targets(label_ids):
    """``(trainIds int32 with ignored pixels set to 0, weights float32)`` from a labelIds map ``(H, W)``.

    Args:
        label_ids: Cityscapes ``labelIds`` (integers 0-33, or -1).

    Example:
        >>> semantic_targets(np.array([26, 29], np.uint8))[0].numpy().tolist()
        [13, 0]
    """
    ids = tf.cast(label_ids, tf.int32)
    train = tf.gather(tf.constant(train_id_table()), tf.clip_by_value(ids, 0, 255))
    valid = train != IGNORE
    return tf.where(valid, train, 0), tf.cast(valid, tf.float32)


def instance_offsets(instance_ids):
    """``(offsets (H, W, 2) float32 as (dy, dx), weights (H, W))`` from an instanceIds map ``(H, W)``.

    Args:
        instance_ids: Cityscapes ``instanceIds`` (``class * 1000 + index`` for
            instances, the class id elsewhere), already at the output size.

    Example:
        >>> ids = np.zeros((3, 4), np.int32); ids[:, 1:3] = 26001  # one car instance, centre (1, 1.5)
        >>> offsets, weights = instance_offsets(ids)
        >>> offsets.numpy()[0, 1].tolist(), weights.numpy()[0].tolist()
        ([-1.0, -0.5], [0.0, 1.0, 1.0, 0.0])
    """
    ids = tf.cast(instance_ids, tf.int32)
    shape = tf.shape(ids)
    class_train_id = tf.gather(tf.constant(train_id_table()), tf.clip_by_value(ids // 1000, 0, 255))
    valid = (ids >= 1000) & (class_train_id != IGNORE)
    flat = tf.reshape(tf.where(valid, ids, -1), [-1])
    unique, segment = tf.unique(flat)
    count = tf.shape(unique)[0]
    ys, xs = tf.meshgrid(tf.range(shape[0]), tf.range(shape[1]), indexing="ij")
    coords = tf.cast(tf.stack([tf.reshape(ys, [-1]), tf.reshape(xs, [-1])], -1), tf.float32)
    sums = tf.math.unsorted_segment_sum(coords, segment, count)
    sizes = tf.math.unsorted_segment_sum(tf.ones_like(flat, tf.float32), segment, count)
    centres = sums / sizes[:, None]
    offsets = coords - tf.gather(centres, segment)
    weights = tf.cast(valid, tf.float32)
    offsets = tf.reshape(offsets, tf.concat([shape, [2]], 0)) * weights[..., None]
    return offsets, weights


def disparity_targets(raw, sixteen_bit: bool = True):
    """``(disparity (H, W, 1) float32, weights (H, W))`` from a disparity map ``(H, W)``.

    Args:
        raw: the stored disparity values.
        sixteen_bit: Cityscapes' own PNG encoding (``(p - 1) / 256``). tensorflow-datasets
            stores the maps as 8-bit images (the 16-bit values shifted right by 8), so
            for them the value is taken as whole pixels.

    Example:
        >>> d, w = disparity_targets(np.array([[0, 257, 2561]], np.uint16))
        >>> d.numpy()[0, :, 0].tolist(), w.numpy().tolist()
        ([0.0, 1.0, 10.0], [[0.0, 1.0, 1.0]])
    """
    p = tf.cast(raw, tf.float32)
    valid = p > 0
    value = (p - 1.0) / 256.0 if sixteen_bit else p
    return tf.where(valid, value, 0.0)[..., None], tf.cast(valid, tf.float32)


def resize_nearest(image, size):
    """Nearest-neighbour resize of an ``(H, W)`` or ``(H, W, C)`` map, keeping its dtype.

    Args:
        image: the map.
        size: ``(height, width)``.

    Example:
        >>> resize_nearest(tf.constant([[1, 2], [3, 4]]), (4, 4)).numpy()[0].tolist()
        [1, 1, 2, 2]
    """
    squeeze = image.shape.rank == 2
    image = image[..., None] if squeeze else image
    out = tf.image.resize(image, size, method="nearest")
    return out[..., 0] if squeeze else out


def resize_image(image, size):
    """Bilinear (antialiased) resize of a uint8 RGB image to float32 in [0, 1].

    Args:
        image: ``(H, W, 3)`` uint8.
        size: ``(height, width)``.

    Example:
        >>> float(resize_image(tf.fill([4, 4, 3], tf.constant(255, tf.uint8)), (2, 2))[0, 0, 0])
        1.0
    """
    out = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear", antialias=True)
    return tf.clip_by_value(out / 255.0, 0.0, 1.0)


def example_targets(tasks, size, label_ids=None, instance_ids=None, disparity=None, sixteen_bit=True):
    """``({task: y}, {task: w})`` for one example at output ``size`` (maps resized by nearest neighbour).

    Args:
        tasks: the wanted tasks among semantic, instance, disparity.
        size: output ``(height, width)``.
        label_ids, instance_ids, disparity: the decoded maps the tasks need.
        sixteen_bit: the disparity encoding (see :func:`disparity_targets`).

    Example:
        >>> ys, ws = example_targets(("semantic",), (1, 2), label_ids=np.array([[7, 8]], np.uint8))
        >>> ys["semantic"].numpy().tolist()
        [[0, 1]]
    """
    ys, ws = {}, {}
    if "semantic" in tasks:
        ys["semantic"], ws["semantic"] = semantic_targets(resize_nearest(_plane(label_ids), size))
    if "instance" in tasks:
        ys["instance"], ws["instance"] = instance_offsets(resize_nearest(_plane(instance_ids), size))
    if "disparity" in tasks:
        ys["disparity"], ws["disparity"] = disparity_targets(resize_nearest(_plane(disparity), size), sixteen_bit)
    return ys, ws


def _plane(image):
    image = tf.convert_to_tensor(image)
    return image[..., 0] if image.shape.rank == 3 else image
