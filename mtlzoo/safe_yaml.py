"""YAML for recipes and ``--set`` values, bounded: no "billion laughs", no recursive aliases, no deep nesting.

``yaml.safe_load`` builds no arbitrary objects, but it still lets a few hundred bytes
of aliases (``&a [*a, *a, ...]`` nested nine deep) stand for a billion values: the
loaded object is small (the aliases share one list), yet any code that walks it --
``repr`` in an error message, ``json.dump`` of a run's ``config.json``, a deep copy
that loses the sharing -- expands it and runs out of memory. :func:`load_yaml`
composes the node graph first and counts the nodes the document *expands* to
(a memoised walk over the graph, so it is as fast as parsing); past ``max_nodes``
(default 10,000: a recipe has about 50) the text is refused before anything is
built. Aliases within the limit still work (a recipe may reuse a mapping with
``&common`` / ``*common``), so this counts instead of refusing aliases outright.

Example:
    >>> load_yaml("a: &x [1, 2]\\nb: *x", "recipe")
    {'a': [1, 2], 'b': [1, 2]}
    >>> laughs = 'a: &a ["lol", "lol", "lol"]\\n' + "".join(
    ...     f"{n}: &{n} [*{p}, *{p}, *{p}]\\n" for p, n in zip("abcdefgh", "bcdefghi"))
    >>> load_yaml(laughs, "recipe 'x'")
    Traceback (most recent call last):
    ...
    ValueError: recipe 'x' expands to more than 10000 YAML values through its aliases (&anchor / *alias); write the values out, or use fewer aliases.
"""

from __future__ import annotations

#: Most values (scalars, lists, mappings, counted as expanded through aliases) a document may hold.
MAX_NODES = 10_000
#: Longest YAML text accepted (characters); a recipe is a few hundred.
MAX_CHARS = 1 << 16
#: Deepest nesting of lists and mappings accepted.
MAX_DEPTH = 100


def load_yaml(text: str, what: str, max_nodes: int = MAX_NODES):
    """``yaml.safe_load(text)``, refusing documents that expand past ``max_nodes`` values or nest too deeply.

    Args:
        text: the YAML text.
        what: names the text in error messages, e.g. ``"recipe 'my.yaml'"`` or ``"--set 'epochs=2'"``.
        max_nodes: the most values the document may expand to.

    Returns:
        The loaded value (``None`` for an empty document).

    Raises:
        ValueError: invalid YAML, too long, too deep, too many values through aliases, or a recursive alias;
            one line naming ``what``.
    """
    import yaml

    from mtlzoo.short_repr import short_repr

    if len(text) > MAX_CHARS:
        raise ValueError(f"{what} is {len(text)} characters of YAML, more than the {MAX_CHARS} accepted; "
                         f"give a smaller file.")
    _check_flow_depth(text, what)
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # reads the text already: it may refuse a control character
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, what, max_nodes)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        message = " ".join(str(error).split())
        raise ValueError(f"{what} is not valid YAML: {short_repr(message, 200, quote=False)}") from None
    except RecursionError:
        raise ValueError(f"{what} nests lists or mappings more than {MAX_DEPTH} deep; flatten it.") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_flow_depth(text: str, what: str) -> None:
    """Refuse ``[[[[...`` / ``{{{{...`` nested past :data:`MAX_DEPTH` before parsing.

    PyYAML's scanner and parser take time quadratic in the depth of flow collections (4,000
    nested ``[`` take 14 s) and libyaml's composer recurses in C until it crashes, so the depth
    is bounded first, on the text: brackets are counted wherever they stand (inside quotes too,
    which only errs towards refusing absurd text).
    """
    import re

    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            raise ValueError(f"{what} nests lists or mappings more than {MAX_DEPTH} deep; flatten it.")


def _check_size(root, what: str, max_nodes: int) -> None:
    """Count the values ``root`` expands to (aliases included), memoised over shared nodes."""
    import yaml

    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, False, 1)]
    while stack:
        node, children_done, depth = stack.pop()
        key = id(node)
        if not isinstance(node, yaml.CollectionNode):
            sizes[key] = 1
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > max_nodes:
                raise ValueError(f"{what} expands to more than {max_nodes} YAML values through its aliases "
                                 f"(&anchor / *alias); write the values out, or use fewer aliases.")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ValueError(f"{what} holds a recursive alias (a list or mapping that contains itself); "
                             f"remove the *alias inside its own &anchor.")
        if depth > MAX_DEPTH:
            raise ValueError(f"{what} nests lists or mappings more than {MAX_DEPTH} deep; flatten it.")
        on_path.add(key)
        stack.append((node, True, depth))
        for child in children:
            if id(child) in on_path:
                raise ValueError(f"{what} holds a recursive alias (a list or mapping that contains itself); "
                                 f"remove the *alias inside its own &anchor.")
            if id(child) not in sizes:
                stack.append((child, False, depth + 1))
