"""The tree spec F = (B, P): named blocks and one path per task (seed 000 §3).

A :class:`TaskTree` is plain data. It knows which blocks exist and which ordered
list of blocks computes each task (Def. 3.1), restricted to trees (Def. 3.2):
every path starts at the root and every block has exactly one parent. From the
paths follow O(i) (the tasks whose paths contain block i), C(i) (the children of
block i), the shared blocks (|O(i)| >= 2) and depths. The spec itself holds no
weights; :class:`mtlzoo.TreeNetwork` pairs it with Keras layers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

_JSON_VERSION = 1


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} names must be non-empty strings, got {name!r}.")
    if "/" in name:
        raise ValueError(f"{kind} name {name!r} contains '/', which Keras forbids in layer names; rename it.")
    return name


def _layers_text(info: Any, shown: int = 6) -> str:
    """``"  (layers: a, b)"`` for a block whose info lists its layers (as ``MultiTaskModel.from_keras`` records)."""
    layers = info.get("layers") if isinstance(info, Mapping) else None
    if not isinstance(layers, list):
        return ""
    if len(layers) <= shown:
        return f"  (layers: {', '.join(map(str, layers))})" if layers else "  (no layers: the inputs)"
    head, tail = ", ".join(map(str, layers[:shown - 2])), ", ".join(map(str, layers[-2:]))
    return f"  ({len(layers)} layers: {head}, ..., {tail})"


class TaskTree:
    """A tree-structured multi-task architecture spec (seed 000, Def. 3.1 and 3.2).

    Args:
        blocks: the block names B, either an iterable of names or a mapping
            ``{name: info}`` where ``info`` is any JSON-serializable description
            of the block (for example a serialized Keras layer) or ``None``.
        paths: ``{task: [block, ...]}``, the ordered blocks computing each task,
            root first and the task's head last.

    Raises:
        ValueError: when the spec is not a tree; the message names the task or
            block at fault (unknown block, path not starting at the root, block
            with two parents, a block repeated in a path, a task without a path,
            a block used by no task, an empty spec, duplicate names).

    Example:
        >>> tree = TaskTree(blocks=["trunk", "head_l", "head_r"],
        ...                 paths={"left": ["trunk", "head_l"],
        ...                        "right": ["trunk", "head_r"]})
        >>> tree.root, tree.tasks_of("trunk"), tree.children("trunk")
        ('trunk', ('left', 'right'), ('head_l', 'head_r'))
        >>> tree.shared_blocks
        ('trunk',)
    """

    def __init__(self, blocks: Iterable[str] | Mapping[str, Any], paths: Mapping[str, Iterable[str]]):
        self._blocks = self._parse_blocks(blocks)
        self._paths = self._parse_paths(paths)
        self._root, self._parent = self._validate()
        self._children: dict[str, list[str]] = {b: [] for b in self._blocks}
        self._tasks_of: dict[str, list[str]] = {b: [] for b in self._blocks}
        for task, path in self._paths.items():
            for i, block in enumerate(path):
                self._tasks_of[block].append(task)
                if i and block not in self._children[path[i - 1]]:
                    self._children[path[i - 1]].append(block)

    # ----------------------------------------------------------------- parsing
    @staticmethod
    def _parse_blocks(blocks) -> dict[str, Any]:
        if blocks is None or isinstance(blocks, (str, bytes)):
            raise ValueError(f"blocks must be a list of names or a {{name: info}} mapping, got {blocks!r}.")
        if isinstance(blocks, Mapping):
            items = list(blocks.items())
        else:
            try:
                items = [(name, None) for name in blocks]
            except TypeError:  # not iterable: a number, True, ...
                raise ValueError(f"blocks must be a list of names or a {{name: info}} mapping, got "
                                 f"{type(blocks).__name__}.") from None
        parsed: dict[str, Any] = {}
        for name, info in items:
            _check_name("Block", name)
            if name in parsed:
                raise ValueError(f"Duplicate block name {name!r}: every block needs a unique name.")
            parsed[name] = info
        if not parsed:
            raise ValueError("Empty spec: a TaskTree needs at least one block and one task path.")
        return parsed

    @staticmethod
    def _parse_paths(paths) -> dict[str, tuple[str, ...]]:
        if not isinstance(paths, Mapping):
            raise ValueError(f"paths must be a {{task: [block, ...]}} mapping, got {type(paths).__name__}.")
        if not paths:
            raise ValueError("Empty spec: a TaskTree needs at least one task path.")
        parsed: dict[str, tuple[str, ...]] = {}
        for task, path in paths.items():
            _check_name("Task", task)
            given = path
            try:
                path = None if path is None or isinstance(path, (str, bytes)) else tuple(path)  # read once
            except TypeError:  # not iterable: a number, True, ...
                path = None
            if not path:
                raise ValueError(
                    f"Task {task!r} has no path: give it a non-empty list of blocks, root first "
                    f"(got {given!r})."
                )
            for block in path:
                if not isinstance(block, str):
                    raise ValueError(f"Task {task!r}: path entry {block!r} is not a block name (a string).")
            parsed[task] = path
        return parsed

    def _validate(self) -> tuple[str, dict[str, str | None]]:
        known = self._blocks
        for task, path in self._paths.items():
            for block in path:
                if block not in known:
                    raise ValueError(
                        f"Task {task!r}: unknown block {block!r} in its path; known blocks: "
                        f"{sorted(known)}."
                    )
            seen = set()
            for block in path:
                if block in seen:
                    raise ValueError(
                        f"Task {task!r}: block {block!r} appears twice in its path (a cycle); "
                        "a path visits each block once."
                    )
                seen.add(block)
        first_task, first_path = next(iter(self._paths.items()))
        root = first_path[0]
        for task, path in self._paths.items():
            if path[0] != root:
                raise ValueError(
                    f"Task {task!r}: path starts at block {path[0]!r}, not at the root {root!r} "
                    f"(the first block of task {first_task!r}); every path must start at the root."
                )
        parent: dict[str, str | None] = {root: None}
        parent_task: dict[str, str] = {root: first_task}
        for task, path in self._paths.items():
            for prev, block in zip(path, path[1:]):
                if block == root:
                    raise ValueError(
                        f"Task {task!r}: the root block {root!r} cannot have a parent (it follows {prev!r})."
                    )
                if block in parent and parent[block] != prev:
                    raise ValueError(
                        f"Block {block!r} has two parents: {parent[block]!r} (task {parent_task[block]!r}) "
                        f"and {prev!r} (task {task!r}); in a tree every block has one parent."
                    )
                parent[block] = prev
                parent_task[block] = task
        unused = [b for b in known if b not in parent]
        if unused:
            raise ValueError(
                f"Block {unused[0]!r} is used by no task; remove it or add it to a task's path"
                + (f" (also unused: {unused[1:]})." if len(unused) > 1 else ".")
            )
        return root, parent

    # ------------------------------------------------------------- derived data
    @property
    def blocks(self) -> tuple[str, ...]:
        """Block names in declaration order."""
        return tuple(self._blocks)

    @property
    def block_info(self) -> dict[str, Any]:
        """``{block: info}`` as given (``None`` where no info was given)."""
        return dict(self._blocks)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in declaration order."""
        return tuple(self._paths)

    @property
    def paths(self) -> dict[str, tuple[str, ...]]:
        """``{task: (root, ..., head)}``."""
        return dict(self._paths)

    @property
    def root(self) -> str:
        """The block every path starts at."""
        return self._root

    def path(self, task: str) -> tuple[str, ...]:
        """The ordered blocks computing ``task``."""
        if task not in self._paths:
            raise KeyError(f"Unknown task {task!r}; tasks: {list(self._paths)}.")
        return self._paths[task]

    def _check_block(self, block: str) -> str:
        if block not in self._blocks:
            raise KeyError(f"Unknown block {block!r}; blocks: {list(self._blocks)}.")
        return block

    def parent(self, block: str) -> str | None:
        """The parent of ``block`` (``None`` for the root)."""
        return self._parent[self._check_block(block)]

    def children(self, block: str) -> tuple[str, ...]:
        """C(i): the blocks whose parent is ``block``."""
        return tuple(self._children[self._check_block(block)])

    def tasks_of(self, block: str) -> tuple[str, ...]:
        """O(i): the tasks whose paths contain ``block``."""
        return tuple(self._tasks_of[self._check_block(block)])

    @property
    def shared_blocks(self) -> tuple[str, ...]:
        """Blocks on two or more task paths (|O(i)| >= 2), in top-down order."""
        return tuple(b for b in self.topological_order() if len(self._tasks_of[b]) >= 2)

    def depth_of(self, block: str) -> int:
        """Number of edges from the root to ``block`` (the root has depth 0)."""
        depth, node = 0, self._check_block(block)
        while self._parent[node] is not None:
            node, depth = self._parent[node], depth + 1
        return depth

    @property
    def depth(self) -> int:
        """The number of blocks on the longest path."""
        return max(len(p) for p in self._paths.values())

    def topological_order(self) -> tuple[str, ...]:
        """Blocks ordered so that every parent precedes its children (breadth first)."""
        order, frontier = [], [self._root]
        while frontier:
            order.extend(frontier)
            frontier = [c for b in frontier for c in self._children[b]]
        return tuple(order)

    def subtree(self, block: str) -> tuple[str, ...]:
        """``block`` and all blocks below it."""
        out, stack = [], [self._check_block(block)]
        while stack:
            node = stack.pop(0)
            out.append(node)
            stack.extend(self._children[node])
        return tuple(out)

    # ---------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: ``{"version", "blocks", "paths"}``."""
        return {
            "version": _JSON_VERSION,
            "blocks": dict(self._blocks),
            "paths": {t: list(p) for t, p in self._paths.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskTree:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping) or "blocks" not in data or "paths" not in data:
            raise ValueError("A TaskTree dict needs the keys 'blocks' and 'paths'.")
        version = data.get("version", _JSON_VERSION)
        if version != _JSON_VERSION:
            raise ValueError(f"Unsupported TaskTree format version {version!r}; expected {_JSON_VERSION}.")
        return cls(blocks=data["blocks"], paths=data["paths"])

    def to_json(self, indent: int | None = 2) -> str:
        """The spec as JSON text (see :meth:`from_json`)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> TaskTree:
        """Parse :meth:`to_json` output; duplicate keys in the JSON are an error."""

        def no_duplicates(pairs):
            seen = {}
            for key, value in pairs:
                if key in seen:
                    raise ValueError(f"Duplicate name {key!r} in the TaskTree JSON.")
                seen[key] = value
            return seen

        if not isinstance(text, (str, bytes, bytearray)):
            raise ValueError(f"TaskTree JSON must be text, got {type(text).__name__}.")
        try:
            data = json.loads(text, object_pairs_hook=no_duplicates)
        except json.JSONDecodeError as err:
            raise ValueError(f"TaskTree JSON is not valid JSON: {err}") from err
        except RecursionError:
            raise ValueError("TaskTree JSON nests lists or objects too deeply to be a TaskTree.") from None
        except ValueError as err:
            if str(err).startswith("Duplicate name"):
                raise
            raise ValueError(f"TaskTree JSON is not valid JSON: {str(err)[:120]}") from None
        return cls.from_dict(data)

    # ----------------------------------------------------------------- display
    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskTree) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_json(indent=None))

    def __repr__(self) -> str:
        return f"TaskTree(blocks={list(self._blocks)!r}, paths={ {t: list(p) for t, p in self._paths.items()}!r})"

    def __str__(self) -> str:
        ends = {}
        for task, path in self._paths.items():
            ends.setdefault(path[-1], []).append(task)

        def label(block: str) -> str:
            text = block
            if len(self._tasks_of[block]) >= 2:
                text += f"  [shared: {', '.join(self._tasks_of[block])}]"
            if block in ends:
                text += f"  -> {', '.join(ends[block])}"
            return text + _layers_text(self._blocks[block])

        lines = [label(self._root)]

        def walk(block: str, prefix: str) -> None:
            kids = self._children[block]
            for i, child in enumerate(kids):
                last = i == len(kids) - 1
                lines.append(prefix + ("└── " if last else "├── ") + label(child))
                walk(child, prefix + ("    " if last else "│   "))

        walk(self._root, "")
        return "\n".join(lines)
