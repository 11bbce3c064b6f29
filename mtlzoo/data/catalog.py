"""The registered datasets: their metadata and where their loaders live (pure Python, no TensorFlow).

>>> INFOS["multimnist"].task_names
('left', 'right')
>>> LOADERS["multimnist"]
('mtlzoo.data.multimnist', 'load_multimnist')
"""

from __future__ import annotations

from dataclasses import replace

from mtlzoo.data.dataset_info import DatasetInfo
from mtlzoo.data.task_info import TaskInfo

_DIGITS = tuple(TaskInfo(t, "classification", 10, description=f"class of the {t} digit") for t in ("left", "right"))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young")
#: Visual Decathlon without ImageNet (seed 004 §5): task -> (tfds config, classes).
DECATHLON_TASKS = {"aircraft": ("aircraft", 100), "cifar100": ("cifar100", 100),
                   "daimlerpedcls": ("daimlerpedcls", 2), "dtd": ("dtd", 47), "gtsrb": ("gtsrb", 43),
                   "omniglot": ("omniglot", 1623), "svhn": ("svhn", 10), "ucf101": ("ucf101", 101),
                   "vgg_flowers": ("vgg-flowers", 102)}
CITYSCAPES_CLASSES = 19
CITYSCAPES_HOW_TO_GET = (
    "Cityscapes needs a manual download (tensorflow-datasets cannot fetch it): register at "
    "https://www.cityscapes-dataset.com/login/ and download leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip "
    "and disparity_trainvaltest.zip. Either extract them into <data_dir>/cityscapes/ (mtlzoo then reads "
    "leftImg8bit/, gtFine/ and disparity/ directly: semantic, instance and disparity tasks), or put the zips "
    "(plus rightImg8bit_trainvaltest.zip) in <data_dir>/downloads/manual/ so tensorflow-datasets can prepare "
    "cityscapes/semantic_segmentation and cityscapes/stereo_disparity (semantic and disparity tasks only).")
_MNIST_FILES = ("<data_dir>/mnist.npz (Keras layout), the IDX *.gz files, or a prepared tensorflow-datasets dir; "
                "keras.datasets downloads it when allowed")

INFOS: dict[str, DatasetInfo] = {
    "multimnist": DatasetInfo(
        "multimnist", "MultiMNIST: a digit at the top-left and a random partner at the bottom-right (36x36 "
        "canvas, max on overlap, nearest resize to 28x28)", (28, 28, 1), _DIGITS,
        {"train": 60000, "test": 10000}, batch_size=256, source="seed 002 §4.1 (Sener & Koltun 2018)",
        files=_MNIST_FILES),
    "multimnist_shift": DatasetInfo(
        "multimnist_shift", "Overlay MultiMNIST: one digit shifted 4 px left, its partner 4 px right, max",
        (28, 28, 1), _DIGITS, {"train": 60000, "test": 10000}, batch_size=256, source="seed 001 §5.1",
        files=_MNIST_FILES),
    "multidigits": DatasetInfo(
        "multidigits", "MultiMNIST built from scikit-learn's bundled 8x8 digits (no files, no network)",
        (28, 28, 1), _DIGITS, {"train": 1437, "test": 360}, batch_size=64,
        source="embedded default; MultiMNIST construction of seed 002 §4.1", files="ships with scikit-learn"),
    "planted_mnist": DatasetInfo(
        "planted_mnist", "MNIST with planted task structure: digit, shifted ((digit + 3) mod 10, the same "
        "information) and teacher (argmax of a fixed random CNN, unrelated features)", (28, 28, 1),
        (TaskInfo("digit", "classification", 10, description="the MNIST class"),
         TaskInfo("shifted", "classification", 10, description="(digit + 3) mod 10"),
         TaskInfo("teacher", "classification", 10,
                  description="argmax of an untrained random CNN's logits, standardised per class on train")),
        {"train": 60000, "test": 10000}, batch_size=256,
        source="split-search acceptance data (issue 6; seed 000 §5)", files=_MNIST_FILES),
    "mnist_attributes": DatasetInfo(
        "mnist_attributes", "MNIST with four attribute tasks of the same images: digit, parity, digit >= 5 and "
        "digit mod 3", (28, 28, 1),
        (TaskInfo("digit", "classification", 10, description="the MNIST class"),
         TaskInfo("parity", "classification", 2, description="digit mod 2 (1 = odd)"),
         TaskInfo("high", "classification", 2, description="digit >= 5"),
         TaskInfo("mod3", "classification", 3, description="digit mod 3")),
        {"train": 60000, "test": 10000}, batch_size=256,
        source="partition-search benchmark data (issue 7; seed 004 §5.1)", files=_MNIST_FILES),
    "mnist_triple": DatasetInfo(
        "mnist_triple", "MNIST, Fashion-MNIST and KMNIST as three tasks with separate inputs, masked",
        (28, 28, 1), tuple(TaskInfo(t, "classification", 10, description=f"{t} class")
                           for t in ("mnist", "fashion_mnist", "kmnist")),
        {"train": 180000, "test": 30000}, partial_labels=True, batch_size=256,
        source="seed 000 §4.5; curriculum seed 004 A.2",
        files="mnist.npz, fashion_mnist.npz, kmnist.npz (Keras layout) or IDX files in <data_dir>/<name>/"),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10 as 10 one-vs-rest binary tasks", (32, 32, 3),
        tuple(TaskInfo(c, "binary", label_shape=(1,), label_dtype="float32", description=f"is it a {c}?")
              for c in CIFAR10_CLASSES),
        {"train": 50000, "test": 10000}, batch_size=256, source="seed 001 §5.2",
        files="tensorflow-datasets 'cifar10' (downloads), or <data_dir>/cifar-10-batches-py/ (Keras layout)"),
    "celeba": DatasetInfo(
        "celeba", "CelebA: 40 binary face attributes, images resized to 64x64", (64, 64, 3),
        tuple(TaskInfo(a, "binary", label_shape=(1,), label_dtype="float32") for a in CELEBA_ATTRIBUTES),
        {"train": 162770, "validation": 19867, "test": 19962}, batch_size=256, source="seed 002 §4.2",
        files="tensorflow-datasets 'celeb_a' (downloads, or prepared in data_dir)"),
    "cityscapes": DatasetInfo(
        "cityscapes", "Cityscapes: semantic segmentation (19 classes), instance-centre offsets, disparity",
        (256, 512, 3), (
            TaskInfo("semantic", "segmentation", CITYSCAPES_CLASSES, (256, 512), description="trainId per pixel"),
            TaskInfo("instance", "regression", None, (256, 512, 2), "float32",
                     "(dy, dx) from each pixel to its instance's centre of mass, in output pixels"),
            TaskInfo("disparity", "regression", None, (256, 512, 1), "float32", "disparity in pixels")),
        {"train": 2975, "validation": 500, "test": 1525}, partial_labels=True, batch_size=8,
        source="seed 002 §4.3 (Kendall et al. 2018 proxy); seed 001 §5.3", files=CITYSCAPES_HOW_TO_GET),
    "visual_decathlon": DatasetInfo(
        "visual_decathlon", "Visual Decathlon's 9 non-ImageNet datasets as tasks with separate inputs",
        (72, 72, 3), tuple(TaskInfo(t, "classification", n) for t, (_, n) in DECATHLON_TASKS.items()),
        {"train": None, "validation": None, "test": None}, partial_labels=True, batch_size=64,
        source="seed 004 §5 and A.2", files="tensorflow-datasets 'visual_domain_decathlon/<task>' (downloads)"),
}

LOADERS: dict[str, tuple[str, str]] = {
    "multimnist": ("mtlzoo.data.multimnist", "load_multimnist"),
    "multimnist_shift": ("mtlzoo.data.multimnist_shift", "load_multimnist_shift"),
    "multidigits": ("mtlzoo.data.multidigits", "load_multidigits"),
    "planted_mnist": ("mtlzoo.data.planted_mnist", "load_planted_mnist"),
    "mnist_attributes": ("mtlzoo.data.mnist_attributes", "load_mnist_attributes"),
    "mnist_triple": ("mtlzoo.data.mnist_triple", "load_mnist_triple"),
    "cifar10": ("mtlzoo.data.cifar10", "load_cifar10"),
    "celeba": ("mtlzoo.data.celeba", "load_celeba"),
    "cityscapes": ("mtlzoo.data.cityscapes", "load_cityscapes"),
    "visual_decathlon": ("mtlzoo.data.visual_decathlon", "load_visual_decathlon"),
}


def info_for(name: str, **options) -> DatasetInfo:
    """The metadata of ``name`` adjusted for loader options that change it (``tasks``, ``image_size``).

    Args:
        name: a catalog name.
        **options: loader options; ``tasks`` and ``image_size`` are applied, others ignored.

    Example:
        >>> info_for("celeba", image_size=32).input_shape
        (32, 32, 3)
    """
    from mtlzoo.data.options import image_size

    base = INFOS[name]
    tasks = base.tasks if options.get("tasks") is None else tuple(base.task(t) for t in options["tasks"])
    shape = base.input_shape
    if options.get("image_size") is not None:
        h, w = image_size(options["image_size"])
        shape = (h, w, shape[-1])
        if name == "cityscapes":
            tasks = tuple(replace(t, label_shape=(h, w, *t.label_shape[2:])) for t in tasks)
    return replace(base, input_shape=shape, tasks=tasks)
