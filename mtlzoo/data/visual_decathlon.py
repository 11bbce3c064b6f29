"""Visual Decathlon's nine non-ImageNet datasets as tasks with separate inputs (seed 004 §5, A.2).

Tasks (tfds ``visual_domain_decathlon/<config>``): aircraft, cifar100,
daimlerpedcls, dtd, gtsrb, omniglot, svhn, ucf101, vgg_flowers (config
``vgg-flowers``). The Decathlon images have a shorter side of 72 px; each is
resized so its shorter side is ``image_size`` and centre-cropped to a square,
float32 in [0, 1]. Test labels are not public (tfds stores -1): those rows get
weight 0. Training batches each come from one task, round robin
(``mode="alternate"``, "we alternate mini-batches sampled from each dataset"),
or drawn by accuracy with ``curriculum="temperature"`` (A.2); ``mode="mixed"``
puts a sub-batch of every task in each batch. Evaluation splits run through
every task in turn (``"sequential"``). Masks as in :mod:`mtlzoo.data.mixing`.

>>> ds = load_visual_decathlon("train", tasks=("svhn", "dtd"))  # doctest: +SKIP
"""

from __future__ import annotations

from mtlzoo.data.catalog import DECATHLON_TASKS
from mtlzoo.data.options import check_batch_size, check_split

_SPLITS = ("train", "validation", "test")
HOW_TO_GET = ("let tensorflow-datasets download 'visual_domain_decathlon/<task>' (download=True; from "
              "https://www.robots.ox.ac.uk/~vgg/decathlon/), or prepare it in data_dir with `tfds build`.")


def square_crop(image, side: int):
    """Resize so the shorter side is ``side`` (bilinear, antialiased), then centre-crop; uint8 out.

    Args:
        image: one ``(H, W, 3)`` image.
        side: the output's side.

    Example:
        >>> import tensorflow as tf
        >>> square_crop(tf.zeros([90, 72, 3], tf.uint8), 72).shape.as_list()
        [72, 72, 3]
    """
    import tensorflow as tf

    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = float(side) / tf.reduce_min(shape)
    new = tf.cast(tf.math.ceil(shape * scale - 1e-3), tf.int32)
    resized = tf.image.resize(image, tf.maximum(new, side), method="bilinear", antialias=True)
    cropped = tf.image.resize_with_crop_or_pad(resized, side, side)
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0, 255), tf.uint8)


def load_visual_decathlon(split: str = "train", batch_size: int = 64, data_dir=None, seed: int = 0,
                          download: bool | None = None, tasks=tuple(DECATHLON_TASKS), image_size: int = 72,
                          mode: str | None = None, curriculum=None, temperature: float = 1.0,
                          steps_per_epoch: int | None = None, shuffle: bool | None = None,
                          shuffle_buffer: int = 2000):
    """The ``visual_decathlon`` dataset: ``(image, {task: y}, {task: w})`` batches.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: rows per batch (64 in seed 004).
        data_dir: a root with prepared tfds configs (also where they download to).
        seed: shuffling and curriculum draws.
        download: allow downloads (``None``: unless ``$MTLZOO_OFFLINE``).
        tasks: a subset of the nine task names (two or more).
        image_size: the square output side.
        mode: ``"alternate"`` (train default), ``"mixed"`` or ``"sequential"`` (other splits).
        curriculum: ``"temperature"`` or a :class:`~mtlzoo.data.TemperatureCurriculum` (training only).
        temperature: the curriculum's temperature.
        steps_per_epoch: batches per epoch (default: every training example about once).
        shuffle: shuffle (default: only for ``"train"``), with ``shuffle_buffer`` examples per task.
        shuffle_buffer: the per-task shuffle buffer.

    Example:
        >>> ds = load_visual_decathlon("train", curriculum="temperature")  # doctest: +SKIP
    """
    import tensorflow as tf

    from mtlzoo.data.mixing import epoch_steps, mix_streams, sub_batch_sizes
    from mtlzoo.data.pipeline import epoch_shuffle
    from mtlzoo.data.temperature_curriculum import resolve_curriculum
    from mtlzoo.data.tfds_source import tfds_dataset

    split = check_split("visual_decathlon", split, _SPLITS)
    batch_size = check_batch_size(batch_size)
    tasks = tuple(tasks)
    unknown = sorted(set(tasks) - set(DECATHLON_TASKS))
    if unknown or len(tasks) < 2 or len(set(tasks)) != len(tasks):
        raise ValueError(f"visual_decathlon: tasks must be two or more distinct names of "
                         f"{', '.join(DECATHLON_TASKS)}; got {tasks}.")
    mode, curriculum = resolve_curriculum("visual_decathlon", tasks, split, mode, curriculum, temperature, "alternate")
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    subs = sub_batch_sizes(batch_size, len(tasks)) if mode == "mixed" else [batch_size] * len(tasks)

    def prepare(example):
        label = tf.cast(example["label"], tf.int32)
        image = tf.cast(square_crop(example["image"], image_size), tf.float32) / 255.0
        image = tf.ensure_shape(image, (image_size, image_size, 3))
        return image, tf.maximum(label, 0), tf.cast(label >= 0, tf.float32)

    streams, sizes = {}, {}
    for i, task in enumerate(tasks):
        ds = tfds_dataset(f"visual_domain_decathlon/{DECATHLON_TASKS[task][0]}", split, data_dir, download,
                          HOW_TO_GET)
        sizes[task] = int(ds.cardinality())
        if shuffle:  # stateless per epoch, each repetition in its own order
            ds = epoch_shuffle(ds, int(shuffle_buffer), int(seed) + 7919 * i, repeat=mode != "sequential")
        elif mode != "sequential":
            ds = ds.repeat()
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        streams[task] = ds.batch(subs[i])
    steps = steps_per_epoch
    if steps is None and mode != "sequential":
        if min(sizes.values()) < 0:
            raise ValueError("visual_decathlon: the dataset sizes are unknown; pass steps_per_epoch.")
        steps = epoch_steps(mode, sizes, batch_size)
    ds = mix_streams(streams, mode, steps=steps, choices=curriculum.choices(seed) if curriculum else None)
    if curriculum is not None:
        ds.mtlzoo_curriculum = curriculum
    return ds
