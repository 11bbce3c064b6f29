"""The error a loader raises when it finds no data: it lists where it looked and how to get the files."""

from __future__ import annotations

from collections.abc import Sequence


class DataNotFoundError(FileNotFoundError):
    """No local files and no (allowed or working) download for a dataset.

    The message names every path that was looked at and how to obtain the data.

    Args:
        dataset: the dataset's name.
        looked_for: every file or directory that was tried, in order.
        how_to_get: instructions (URLs, where to put the files).
        cause: the download error, if a download was tried.

    Example:
        >>> err = DataNotFoundError("mnist", ["/data/mnist.npz"], "Put mnist.npz in /data.")
        >>> "/data/mnist.npz" in str(err)
        True
    """

    def __init__(self, dataset: str, looked_for: Sequence[str], how_to_get: str, cause: str | None = None):
        self.dataset = dataset
        self.looked_for = list(looked_for)
        self.how_to_get = how_to_get
        self.cause = cause
        lines = [f"Could not find the {dataset} data. Looked for:"]
        lines += [f"  - {p}" for p in self.looked_for] or ["  (no candidate locations)"]
        if cause:
            lines.append(f"Download failed: {cause}")
        lines.append("How to get it: " + how_to_get)
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (type(self), (self.dataset, self.looked_for, self.how_to_get, self.cause))
