"""CelebA as 40 binary attribute tasks at 64x64 (seed 002 §4.2).

Images come from tensorflow-datasets' ``celeb_a`` (218x178 RGB), resized to
``image_size`` (64x64, bilinear with antialiasing, aspect not preserved, as
the authors' loader squashes them with ``imresize``), float32 in [0, 1].
Every attribute is a task with a float32 ``(1,)`` label, 1.0 if present.
The decoded set is too big to cache by default (2 GB at 64x64 as uint8); pass
``cache=True`` to keep the resized uint8 images in memory, or a file path.

>>> ds = load_celeba("validation", batch_size=32)  # doctest: +SKIP
"""

from __future__ import annotations

from mtlzoo.data.catalog import CELEBA_ATTRIBUTES
from mtlzoo.data.options import check_batch_size, check_split, image_size as _size

_SPLITS = ("train", "validation", "test")
HOW_TO_GET = ("let tensorflow-datasets download 'celeb_a' (download=True; it fetches from Google Drive, which "
              "may need a manual retry), or prepare it once with `tfds build celeb_a --data_dir <data_dir>`.")


def load_celeba(split: str = "train", batch_size: int = 256, data_dir=None, seed: int = 0,
                download: bool | None = None, tasks=CELEBA_ATTRIBUTES, image_size=64, shuffle: bool | None = None,
                shuffle_buffer: int = 10000, cache: bool | str = False, drop_remainder: bool = False):
    """The ``celeba`` dataset: ``(image (64, 64, 3), {attribute: (1,) 0/1})`` batches.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: examples per batch.
        data_dir: a root with a prepared tfds ``celeb_a`` (also where it downloads to).
        seed: shuffling.
        download: allow the download (``None``: unless ``$MTLZOO_OFFLINE``).
        tasks: which attributes to yield (default all 40).
        image_size: output side (or ``(height, width)``).
        shuffle: shuffle (default: only for ``"train"``), with a ``shuffle_buffer``-deep buffer.
        shuffle_buffer: the shuffle buffer size.
        cache: ``True`` caches resized uint8 images in memory; a string caches to that file prefix.
        drop_remainder: drop the last, smaller batch.

    Example:
        >>> ds = load_celeba("test", tasks=("Smiling", "Male"), image_size=32)  # doctest: +SKIP
    """
    import tensorflow as tf

    from mtlzoo.data.pipeline import epoch_shuffle
    from mtlzoo.data.tfds_source import tfds_dataset

    split = check_split("celeba", split, _SPLITS)
    check_batch_size(batch_size)
    tasks = tuple(tasks)
    unknown = sorted(set(tasks) - set(CELEBA_ATTRIBUTES))
    if unknown or not tasks:
        raise ValueError(f"celeba: unknown attribute(s) {unknown}; attributes: {', '.join(CELEBA_ATTRIBUTES)}.")
    size = _size(image_size)
    shuffle = split == "train" if shuffle is None else bool(shuffle)

    def resize(example):
        image = tf.image.resize(example["image"], size, method="bilinear", antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        return image, tf.stack([tf.cast(example["attributes"][a], tf.float32) for a in tasks], -1)

    def to_batch(images, labels):
        return tf.cast(images, tf.float32) / 255.0, {a: labels[:, i:i + 1] for i, a in enumerate(tasks)}

    ds = tfds_dataset("celeb_a", split, data_dir, download, HOW_TO_GET)
    ds = ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    if shuffle:
        ds = epoch_shuffle(ds, int(shuffle_buffer), seed)  # stateless: epoch e's order is a function of (seed, e)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
