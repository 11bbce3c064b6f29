"""Cityscapes with three tasks: semantic segmentation, instance-centre offsets, disparity (seeds 001, 002).

Cityscapes cannot be downloaded automatically (registration is required); see
:data:`~mtlzoo.data.catalog.CITYSCAPES_HOW_TO_GET`. Two local sources:

1. the extracted official archives, under ``<root>/cityscapes/`` or ``<root>/``:
   ``leftImg8bit/<split>/<city>/<id>_leftImg8bit.png``,
   ``gtFine/<split>/<city>/<id>_gtFine_labelIds.png`` and ``..._instanceIds.png``,
   ``disparity/<split>/<city>/<id>_disparity.png`` (``<split>``: train, val, test).
   All three tasks; this is what Sener & Koltun's loader reads.
2. tensorflow-datasets' ``cityscapes/semantic_segmentation`` and
   ``cityscapes/stereo_disparity`` (prepared from the zips in
   ``<data_dir>/downloads/manual/``): ``semantic`` and ``disparity`` only, since
   the tfds builder keeps no instance ids; the two configs are read in stored
   order and joined on ``image_id`` (checked per example).

Images are resized to ``image_size`` (256x512, as in the authors' code), float32
in [0, 1]; targets as in :mod:`mtlzoo.data.cityscapes_targets`, with
per-pixel weights ``{task: (H, W)}``.

>>> ds = load_cityscapes("validation", data_dir="/data", batch_size=2)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from mtlzoo.data.catalog import CITYSCAPES_HOW_TO_GET
from mtlzoo.data.data_not_found_error import DataNotFoundError
from mtlzoo.data.options import check_batch_size, check_split, image_size as _size
from mtlzoo.data.sources import data_roots

TASKS = ("semantic", "instance", "disparity")
_SPLITS = ("train", "validation", "test")
_DIRS = {"train": "train", "validation": "val", "test": "test"}
_TFDS_CONFIGS = {"semantic": ("cityscapes/semantic_segmentation", "segmentation_label"),
                 "disparity": ("cityscapes/stereo_disparity", "disparity_map")}


def raw_files(root: str | Path, split: str, tasks=TASKS) -> dict[str, list[str]] | None:
    """Paths of the extracted Cityscapes files of ``split`` under ``root``, or None if absent.

    Args:
        root: the folder holding ``leftImg8bit/``, ``gtFine/``, ``disparity/``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        tasks: the tasks whose files are needed.

    Returns:
        ``{"image": [...], "semantic": [...], ...}`` (one list per needed file
        kind, aligned), sorted by city and image id.

    Example:
        >>> raw_files("/nonexistent", "train") is None
        True
    """
    root = Path(root)
    folder = root / "leftImg8bit" / _DIRS[split]
    if not folder.is_dir():
        return None
    images = sorted(folder.glob("*/*_leftImg8bit.png"))
    if not images:
        return None
    kinds = {"semantic": ("gtFine", "_gtFine_labelIds.png"), "instance": ("gtFine", "_gtFine_instanceIds.png"),
             "disparity": ("disparity", "_disparity.png")}
    files = {"image": [str(p) for p in images]}
    for task in tasks:
        top, suffix = kinds[task]
        paths = [root / top / _DIRS[split] / p.parent.name / (p.name[: -len("_leftImg8bit.png")] + suffix)
                 for p in images]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise DataNotFoundError("cityscapes", missing[:5] + (["..."] if len(missing) > 5 else []),
                                    f"{len(missing)} {task} file(s) are missing next to {folder}. "
                                    + CITYSCAPES_HOW_TO_GET)
        files[task] = [str(p) for p in paths]
    return files


def load_cityscapes(split: str = "train", batch_size: int = 8, data_dir=None, seed: int = 0,
                    download: bool | None = None, tasks=TASKS, image_size=(256, 512), shuffle: bool | None = None,
                    cache: bool | str = False, shuffle_buffer: int = 64, drop_remainder: bool = False):
    """The ``cityscapes`` dataset: ``(image, {task: y}, {task: per-pixel weight})`` batches.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: examples per batch.
        data_dir: a root with the extracted archives (or ``cityscapes/`` inside it),
            or a tfds data dir with the prepared configs.
        seed: shuffling.
        download: let tfds prepare from ``<data_dir>/downloads/manual`` (``None``: unless ``$MTLZOO_OFFLINE``).
        tasks: a subset of ``("semantic", "instance", "disparity")``.
        image_size: ``(height, width)`` of the outputs.
        shuffle: shuffle (default: only for ``"train"``).
        cache: cache decoded, resized examples in memory (``True``) or at a file prefix.
        shuffle_buffer: examples in the shuffle buffer when reading tfds or a cache
            (otherwise the raw file list is shuffled as a whole before decoding).
        drop_remainder: drop the last, smaller batch.

    Example:
        >>> ds = load_cityscapes("train", data_dir="/data", tasks=("semantic", "disparity"))  # doctest: +SKIP
    """
    import tensorflow as tf

    from mtlzoo.data.cityscapes_targets import example_targets, resize_image
    from mtlzoo.data.pipeline import epoch_shuffle

    split = check_split("cityscapes", split, _SPLITS)
    check_batch_size(batch_size)
    tasks = tuple(tasks)
    if not tasks or set(tasks) - set(TASKS) or len(set(tasks)) != len(tasks):
        raise ValueError(f"cityscapes: tasks must be distinct names among {TASKS}, got {tasks}.")
    size = _size(image_size)
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    looked, files = [], None
    for root in data_roots(data_dir):
        for candidate in (root / "cityscapes", root):
            looked.append(str(candidate / "leftImg8bit" / _DIRS[split]))
            files = files or raw_files(candidate, split, tasks)
    if files is not None:
        def load(paths):
            read = {t: tf.io.decode_png(tf.io.read_file(paths[t]), channels=1,
                                        dtype=tf.uint8 if t == "semantic" else tf.uint16) for t in tasks}
            image = tf.io.decode_png(tf.io.read_file(paths["image"]), channels=3)
            ys, ws = example_targets(tasks, size, read.get("semantic"), read.get("instance"), read.get("disparity"))
            return resize_image(image, size), ys, ws

        ds = tf.data.Dataset.from_tensor_slices(files)
        if shuffle and not cache:
            ds = epoch_shuffle(ds, len(files["image"]), seed)  # stateless per epoch
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        if "instance" in tasks:
            raise DataNotFoundError("cityscapes", looked, "the instance task needs gtFine/*_instanceIds.png, which "
                                    "the tensorflow-datasets builder does not keep; pass tasks=('semantic', "
                                    "'disparity') to use tfds, or: " + CITYSCAPES_HOW_TO_GET)
        ds = _tfds_examples(tasks, split, data_dir, download, size, looked)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    if shuffle and (cache or files is None):
        ds = epoch_shuffle(ds, int(shuffle_buffer), seed)  # stateless per epoch
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _tfds_examples(tasks, split, data_dir, download, size, looked):
    import tensorflow as tf

    from mtlzoo.data.cityscapes_targets import example_targets, resize_image
    from mtlzoo.data.tfds_source import tfds_dataset

    parts = [tfds_dataset(_TFDS_CONFIGS[t][0], split, data_dir, download, CITYSCAPES_HOW_TO_GET, looked)
             for t in tasks]

    def join(*examples):
        first = examples[0]
        checks = [tf.debugging.assert_equal(first["image_id"], e["image_id"],
                                            message="cityscapes: tfds configs are not aligned by image_id")
                  for e in examples[1:]]
        with tf.control_dependencies(checks):
            maps = {t: tf.identity(e[_TFDS_CONFIGS[t][1]]) for t, e in zip(tasks, examples)}
        ys, ws = example_targets(tasks, size, maps.get("semantic"), None, maps.get("disparity"), sixteen_bit=False)
        return resize_image(first["image_left"], size), ys, ws

    return tf.data.Dataset.zip(tuple(parts)).map(join, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
