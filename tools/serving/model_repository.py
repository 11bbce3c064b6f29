"""The models a server answers for: a directory of versioned SavedModels in TensorFlow Serving's layout."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from mtlzoo.tools.serving.servable import Servable
from mtlzoo.tools.serving.serving_error import ServingError

logger = logging.getLogger(__name__)

#: The layout :class:`ModelRepository` expects, for error messages.
LAYOUT = ("DIR/<model_name>/<version>/saved_model.pb (with variables/ beside it), <version> a positive integer, "
          "as `mtlzoo export` or mtlzoo.tools.export writes it")


class ModelRepository:
    """Every model folder of ``directory``, served under its folder name (TF Serving's layout).

    ``directory/<model_name>/<version>/`` holds one SavedModel per positive integer
    ``<version>``; folders that are not integers or hold no ``saved_model.pb`` are ignored.
    The latest version of each model is loaded at start (TF Serving's default version
    policy) and answers requests that name no version; other versions present on disk
    are loaded on first use, once, even under concurrent requests, and kept.

    Args:
        directory: the folder holding one sub-folder per model.

    Raises:
        FileNotFoundError: ``directory`` does not exist or is not a folder.
        ValueError: it holds no model in the expected layout.

    Example:
        >>> import mtlzoo
        >>> model = mtlzoo.models.get("multimnist_lenet")                            # doctest: +SKIP
        >>> mtlzoo.tools.export(model, "exports/multimnist_lenet")                  # doctest: +SKIP
        >>> repository = ModelRepository("exports")                                  # doctest: +SKIP
        >>> repository.status("multimnist_lenet")                                    # doctest: +SKIP
        {'model_version_status': [{'version': '1', 'state': 'AVAILABLE', 'status': {'error_code': 'OK', ...}}]}
        >>> repository.predict("multimnist_lenet", None, {"instances": [image]})      # doctest: +SKIP
        {'predictions': [{'left': [...], 'right': [...]}]}
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        if not self.directory.exists():
            raise FileNotFoundError(f"model directory '{self.directory}' does not exist; expected {LAYOUT}")
        if not self.directory.is_dir():
            raise FileNotFoundError(f"'{self.directory}' is a file, not a model directory; expected {LAYOUT}")
        self._versions = self._scan()
        if not self._versions:
            raise ValueError(f"no models found in '{self.directory}'; expected {LAYOUT}{self._layout_hint()}")
        self._servables: dict[tuple[str, int], Servable] = {}
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._latest = {name: max(versions) for name, versions in self._versions.items()}
        for name, version in self._latest.items():
            self._load(name, version, self._versions[name][version])

    @property
    def names(self) -> list[str]:
        """The served model names, sorted."""
        return sorted(self._versions)

    def versions(self, name: str) -> list[int]:
        """The versions of model ``name`` found at start, ascending."""
        return sorted(self._versions[self._known(name)])

    def latest(self, name: str) -> Servable:
        """The loaded latest version of model ``name``."""
        return self.servable(name, None)

    def servable(self, name: str, version) -> Servable:
        """Model ``name`` at ``version`` (``None``: the latest), loading it on first use.

        Raises:
            ServingError: 404 for an unknown model or version, 400 for a version that is not
                a positive integer, 500 when the SavedModel cannot be loaded.
        """
        name = self._known(name, version)
        if version is None:
            version = self._latest[name]
            return self._load(name, version, self._versions[name][version])
        number = _version_number(version)
        # A version exported after the start is served too (it never becomes the latest).
        folder = self._versions[name].get(number, self.directory / name / str(number))
        if not self._has_saved_model(folder):
            raise ServingError(404, f"Servable not found for request: Specific({name}, {number}); versions "
                                    f"of '{name}': {', '.join(map(str, self.versions(name)))}")
        return self._load(name, number, folder)

    def status(self, name: str, version=None) -> dict:
        """TF Serving's ``GET /v1/models/<name>[/versions/<v>]`` answer: loaded versions, newest first."""
        if version is not None:
            return {"model_version_status": [self.servable(name, version).status()]}
        name = self._known(name)
        loaded = sorted((s for (n, _), s in self._servables.copy().items() if n == name),
                        key=lambda s: -s.version)
        return {"model_version_status": [s.status() for s in loaded]}

    def metadata(self, name: str, version=None) -> dict:
        """TF Serving's ``GET /v1/models/<name>[/versions/<v>]/metadata`` answer (the signature defs)."""
        return self.servable(name, version).metadata()

    def predict(self, name: str, version, request) -> dict:
        """Answer a parsed ``:predict`` body with model ``name`` at ``version`` (``None``: latest)."""
        return self.servable(name, version).predict(request)

    def _known(self, name: str, version=None) -> str:
        if name not in self._versions:
            wanted = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise ServingError(404, f"Servable not found for request: {wanted}; served models: "
                                    f"{', '.join(self.names)}")
        return name

    def _load(self, name: str, version: int, path: Path) -> Servable:
        key = (name, version)
        servable = self._servables.get(key)
        if servable is not None:
            return servable
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one load per version; requests for other versions go on meanwhile
            servable = self._servables.get(key)
            if servable is None:
                logger.info("loading model '%s' version %d from %s", name, version, path)
                try:
                    servable = Servable(name, version, path)
                except Exception as error:  # noqa: BLE001 - any load failure is reported the same way
                    raise ServingError(500, f"cannot load model '{name}' version {version} from '{path}': "
                                            f"{type(error).__name__}: {error}") from error
                self._servables[key] = servable
        return servable

    def _scan(self) -> dict[str, dict[int, Path]]:
        """``{model: {version: folder}}`` of every model folder with at least one SavedModel version."""
        found = {}
        for model in sorted(p for p in self.directory.iterdir() if p.is_dir()):
            versions = {int(v.name): v for v in sorted(model.iterdir())
                        if _is_version(v.name) and self._has_saved_model(v)}
            if versions:
                found[model.name] = versions
        return found

    def _layout_hint(self) -> str:
        """Point at the right folder when given a model folder or a version folder instead of their parent."""
        if self._has_saved_model(self.directory):
            root = self.directory.resolve().parent.parent
            return f". '{self.directory}' is one version of a model: serve '{root}' instead"
        if any(_is_version(v.name) and self._has_saved_model(v) for v in self.directory.iterdir()):
            return f". '{self.directory}' is a model folder: serve its parent '{self.directory.resolve().parent}'"
        return ""

    @staticmethod
    def _has_saved_model(folder: Path) -> bool:
        return (folder / "saved_model.pb").is_file()


#: Most digits of a version number (TF Serving's versions are int64).
_MAX_VERSION_DIGITS = 18


def _is_version(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= _MAX_VERSION_DIGITS and int(text) > 0


def _version_number(version) -> int:
    text = str(version)
    if not _is_version(text):
        shown = f"'{text}'" if len(text) <= 40 else f"'{text[:20]}...' ({len(text)} characters)"
        raise ServingError(400, f"model version {shown} is not a positive integer of at most "
                                f"{_MAX_VERSION_DIGITS} digits; use /v1/models/<name>/versions/<n> with n one of "
                                "the model's version folders")
    return int(text)
