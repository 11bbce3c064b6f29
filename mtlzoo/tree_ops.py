"""peel and split on the spec alone (seed 000 §3.2); the model versions build on these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mtlzoo.task_tree import TaskTree


def peel_tree(tree: TaskTree, task: str) -> TaskTree:
    """The single-task spec P^t = {p^t} holding only the blocks on ``task``'s path.

    Args:
        tree: the multi-task spec.
        task: the task to keep.

    Example:
        >>> t = TaskTree(["r", "a", "b"], {"x": ["r", "a"], "y": ["r", "b"]})
        >>> peel_tree(t, "x").paths
        {'x': ('r', 'a')}
    """
    if task not in tree.tasks:
        raise ValueError(f"Cannot peel unknown task {task!r}; tasks: {list(tree.tasks)}.")
    path = tree.path(task)
    info = tree.block_info
    return TaskTree(blocks={b: info[b] for b in path}, paths={task: list(path)})


def _copy_names(tree: TaskTree, block: str, count: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        names = list(names)
        if len(names) != count:
            raise ValueError(f"split: got {len(names)} names for {count} groups; give one name per group.")
        taken = set(tree.blocks) - {block}
        for name in names:
            if name in taken:
                raise ValueError(f"split: new block name {name!r} is already a block of the tree.")
        if len(set(names)) != len(names):
            raise ValueError(f"split: duplicate names in {names}.")
        return names
    taken, out, k = set(tree.blocks), [], 1
    while len(out) < count:
        candidate = f"{block}_{k}"
        if candidate not in taken:
            out.append(candidate)
            taken.add(candidate)
        k += 1
    return out


def check_partition(tree: TaskTree, block: str, partition: Iterable[Iterable[str]]) -> list[list[str]]:
    """Validate that ``partition`` splits C(block) into non-empty, disjoint groups covering it."""
    if block not in tree.blocks:
        raise ValueError(f"Cannot split unknown block {block!r}; blocks: {list(tree.blocks)}.")
    if block == tree.root:
        raise ValueError(
            f"Cannot split the root block {block!r}: every path must start at one root. Put a "
            "parameter-free input block (e.g. keras.layers.Identity) above it and split this block instead."
        )
    enders = [t for t in tree.tasks_of(block) if tree.path(t)[-1] == block]
    if enders:
        raise ValueError(
            f"Cannot split block {block!r}: it is the output block of task(s) {enders}, "
            "so no child routes them; give those tasks a head block below it."
        )
    if isinstance(partition, (str, bytes)):
        raise ValueError(f"split: partition must be a list of groups of children of {block!r}, got {partition!r}.")
    groups = [[partition_item] if isinstance(partition_item, str) else list(partition_item)
              for partition_item in partition]
    children = tree.children(block)
    seen: dict[str, int] = {}
    for j, group in enumerate(groups):
        if not group:
            raise ValueError(f"split: group {j} of the partition of {block!r} is empty.")
        for child in group:
            if child not in children:
                raise ValueError(
                    f"split: {child!r} is not a child of block {block!r}; its children are {list(children)}."
                )
            if child in seen:
                raise ValueError(f"split: child {child!r} of {block!r} is in groups {seen[child]} and {j}.")
            seen[child] = j
    missing = [c for c in children if c not in seen]
    if missing:
        raise ValueError(
            f"split: the partition of {block!r} misses its children {missing}; every child of "
            f"{block!r} ({list(children)}) must be in exactly one group."
        )
    return groups


def split_tree(
    tree: TaskTree,
    block: str,
    partition: Iterable[Iterable[str]],
    names: Sequence[str] | None = None,
) -> tuple[TaskTree, dict[str, list[str]]]:
    """Replace ``block`` by one copy per group of its children and reroute the paths.

    Args:
        tree: the spec to split.
        block: the block i to split (not the root).
        partition: groups covering C(i) exactly, e.g. ``[["head_a", "head_b"], ["head_c"]]``.
        names: optional names for the copies (default ``"{block}_1"``, ``"{block}_2"``, ...).

    Returns:
        ``(new_tree, {copy_name: group})``.

    Example:
        >>> t = TaskTree(["in", "trunk", "a", "b"], {"x": ["in", "trunk", "a"], "y": ["in", "trunk", "b"]})
        >>> new, copies = split_tree(t, "trunk", [["a"], ["b"]])
        >>> new.paths["y"], copies
        (('in', 'trunk_2', 'b'), {'trunk_1': ['a'], 'trunk_2': ['b']})
    """
    groups = check_partition(tree, block, partition)
    copy_names = _copy_names(tree, block, len(groups), names)
    group_of = {child: copy_names[j] for j, group in enumerate(groups) for child in group}
    info = tree.block_info
    new_blocks = {}
    for name in tree.blocks:
        if name == block:
            new_blocks.update({copy: info[block] for copy in copy_names})
        else:
            new_blocks[name] = info[name]
    new_paths = {}
    for task, path in tree.paths.items():
        if block in path:
            i = path.index(block)
            path = path[:i] + (group_of[path[i + 1]],) + path[i + 1:]
        new_paths[task] = list(path)
    return TaskTree(blocks=new_blocks, paths=new_paths), dict(zip(copy_names, groups))
