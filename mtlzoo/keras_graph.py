"""The layer graph of a multi-output functional Keras model, read for ``MultiTaskModel.from_keras``.

For every layer (every node of the functional graph) :class:`KerasGraph` finds
the set of outputs it feeds, O(layer) in the notation of seed 000 §3.1: the
tasks whose outputs depend on it. :class:`mtlzoo.keras_cut.KerasCut` groups the
layers into tree blocks by these sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _functional_class():
    # Keras 3 exposes no public name for "a model built with the functional API"; this is the class
    # keras.Model(inputs, outputs) returns (also for keras.Model subclasses built that way).
    from keras.src.models.functional import Functional

    return Functional


class KerasGraph:
    """The layers of a functional Keras model with one output per task, and the tasks each one feeds.

    Args:
        model: a functional ``keras.Model`` with two or more outputs: a dict of
            outputs (the keys are the task names) or a list (the output layers'
            names are the task names). ``Sequential`` models and nested models
            are fine as layers inside it.

    Attributes:
        model: the model read.
        tasks: the task names, in the model's output order.
        outputs: ``{task: KerasTensor}``, each task's output tensor.
        inputs: the model's input tensors, in order.
        nodes: the graph's nodes (one per layer call, input layers left out), parents first.

    Raises:
        ValueError: not a keras.Model, a subclassed (not functional) model, a
            ``Sequential`` model, a model with one output, outputs that are not
            one tensor each, or a layer called at two places of the graph. The
            message names the model or the layer and what to do.

    Example:
        >>> import keras
        >>> x = keras.Input((4,), name="x")
        >>> h = keras.layers.Dense(3, name="trunk")(x)
        >>> model = keras.Model(x, {"a": keras.layers.Dense(1, name="head_a")(h),
        ...                         "b": keras.layers.Dense(2, name="head_b")(h)})
        >>> graph = KerasGraph(model)
        >>> graph.tasks, [graph.name(n) for n in graph.nodes]
        (('a', 'b'), ['trunk', 'head_a', 'head_b'])
        >>> graph.tasks_of(graph.node("trunk")), graph.tasks_of(graph.node("head_b"))
        (('a', 'b'), ('b',))
    """

    def __init__(self, model: Any):
        self.model = model
        self._check_kind(model)
        self.tasks, self.outputs = self._task_outputs(model)
        self.inputs = list(model.inputs)
        nodes = self._reachable_nodes(model)
        self._input_nodes = {id(n) for n in nodes if self._is_input(n)}
        self._check_called_once(model, nodes)
        self._producer = {id(t): n for n in nodes for t in n.outputs}
        self.nodes = self._topological([n for n in nodes if not self._is_input(n)], model)
        self._by_name = {self.name(n): n for n in self.nodes}
        self._consumers: dict[int, list] = {}
        for node in self.nodes:
            for tensor in node.input_tensors:
                self._consumers.setdefault(id(tensor), []).append(node)
        self._tasks_of = self._task_sets()

    # -------------------------------------------------------------- checks
    @staticmethod
    def _check_kind(model) -> None:
        import keras

        if not isinstance(model, keras.Model):
            raise ValueError(f"from_keras: expected a functional keras.Model with one output per task, got "
                             f"{type(model).__name__}.")
        if isinstance(model, keras.Sequential):
            raise ValueError(f"from_keras: model {model.name!r} is a Sequential model, which has one output; build "
                             "a functional keras.Model(inputs, {task: output, ...}) with one output per task "
                             "(the Sequential model can be a layer inside it).")
        if not isinstance(model, _functional_class()):
            raise ValueError(f"from_keras: model {model.name!r} is a subclassed keras.Model "
                             f"({type(model).__name__}), whose layer graph cannot be read; rewrite it with the "
                             "functional API (keras.Model(inputs, {task: output, ...})) or build a "
                             "mtlzoo.TreeNetwork from its parts.")

    @staticmethod
    def _task_outputs(model) -> tuple[tuple[str, ...], dict[str, Any]]:
        import keras

        struct = model.output
        if isinstance(struct, Mapping):
            pairs = list(struct.items())
        elif isinstance(struct, (list, tuple)):
            pairs = list(zip(model.output_names, struct))
        else:
            pairs = [(getattr(model, "output_names", ["output"])[0], struct)]
        for task, tensor in pairs:
            if not isinstance(tensor, keras.KerasTensor):
                raise ValueError(f"from_keras: output {task!r} of model {model.name!r} is a "
                                 f"{type(tensor).__name__}, not one tensor; give every task one output tensor.")
        if len(pairs) < 2:
            raise ValueError(f"from_keras: model {model.name!r} has one output ({pairs[0][0]!r}); a multi-task "
                             "model needs one output per task: return {task: output, ...} from two or more "
                             "heads.")
        names = [str(task) for task, _ in pairs]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"from_keras: model {model.name!r} has several outputs named {duplicated[0]!r} (outputs "
                             "of one layer); return a dict {task: output} to name each task.")
        return tuple(names), dict(zip(names, (tensor for _, tensor in pairs)))

    @staticmethod
    def _is_input(node) -> bool:
        from keras.layers import InputLayer

        return isinstance(node.operation, InputLayer)

    def _reachable_nodes(self, model) -> list:
        """Every node the outputs depend on (this model's graph only, not other calls of its layers)."""
        nodes, seen, frontier = [], set(), list(self.outputs.values())
        while frontier:
            tensor = frontier.pop()
            operation, node_index, _ = tensor._keras_history
            node = operation._inbound_nodes[node_index]
            if id(node) in seen:
                continue
            seen.add(id(node))
            nodes.append(node)
            frontier.extend(node.input_tensors)
        return nodes

    def _check_called_once(self, model, nodes) -> None:
        calls: dict[int, list] = {}
        for node in nodes:
            calls.setdefault(id(node.operation), []).append(node)
        for group in calls.values():
            if len(group) > 1:
                name = group[0].operation.name
                sources = ", ".join(sorted({self._source(n) for n in group}))
                raise ValueError(
                    f"from_keras: layer {name!r} of model {model.name!r} is called at {len(group)} places of the "
                    f"graph (on the outputs of {sources}); a tree block owns its parameters, so give each call "
                    "its own layer, or build a mtlzoo.TreeNetwork.")

    @staticmethod
    def _source(node) -> str:
        names = [t._keras_history[0].name for t in node.input_tensors]
        return "+".join(repr(n) for n in names) if names else "nothing"

    def _topological(self, nodes, model) -> list:
        """Kahn's algorithm, ties broken by the model's own layer order (readable block listings)."""
        import heapq

        rank = {id(op): i for i, op in enumerate(getattr(model, "_operations", None) or model.layers)}
        ids = {id(n): n for n in nodes}
        waiting = {id(n): {id(self._producer[id(t)]) for t in n.input_tensors} & set(ids) for n in nodes}
        children: dict[int, list[int]] = {}
        for key, parents in waiting.items():
            for parent in parents:
                children.setdefault(parent, []).append(key)
        ready = [(rank.get(id(ids[k].operation), len(rank)), i, k) for i, (k, p) in enumerate(waiting.items())
                 if not p]
        heapq.heapify(ready)
        order, count = [], len(ready)
        while ready:
            _, _, key = heapq.heappop(ready)
            order.append(ids[key])
            for child in children.get(key, ()):
                waiting[child].discard(key)
                if not waiting[child]:
                    count += 1
                    heapq.heappush(ready, (rank.get(id(ids[child].operation), len(rank)), count, child))
        return order

    def _task_sets(self) -> dict[int, tuple[str, ...]]:
        reached: dict[int, set[str]] = {}
        for task, tensor in self.outputs.items():
            frontier, seen = [self._producer[id(tensor)]], set()
            while frontier:
                node = frontier.pop()
                if id(node) in seen:
                    continue
                seen.add(id(node))
                reached.setdefault(id(node), set()).add(task)
                frontier.extend(self._producer[id(t)] for t in node.input_tensors)
        return {key: tuple(t for t in self.tasks if t in found) for key, found in reached.items()}

    # ------------------------------------------------------------ queries
    @staticmethod
    def name(node) -> str:
        """The name of the layer (operation) a node calls."""
        return node.operation.name

    def node(self, name: str):
        """The node of the layer called ``name``."""
        if name not in self._by_name:
            import difflib

            close = difflib.get_close_matches(name, list(self._by_name), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else \
                f"; its layers run from {self.name(self.nodes[0])!r} to {self.name(self.nodes[-1])!r}."
            raise ValueError(f"from_keras: model {self.model.name!r} has no layer named {name!r}{hint}")
        return self._by_name[name]

    def tasks_of(self, node) -> tuple[str, ...]:
        """O(layer): the tasks whose outputs depend on the node, in task order."""
        return self._tasks_of[id(node)]

    def producer(self, tensor):
        """The node that computes ``tensor`` (an input layer's node for a model input)."""
        return self._producer[id(tensor)]

    def is_model_input(self, tensor) -> bool:
        """Whether ``tensor`` is one of the model's inputs."""
        return id(self._producer[id(tensor)]) in self._input_nodes

    def consumers(self, tensor) -> list:
        """The nodes that read ``tensor``."""
        return list(self._consumers.get(id(tensor), ()))

    def ancestors(self, node) -> list:
        """Every layer node ``node`` depends on (model inputs left out)."""
        out, seen, frontier = [], set(), list(node.input_tensors)
        while frontier:
            parent = self._producer[id(frontier.pop())]
            if id(parent) in seen or id(parent) in self._input_nodes:
                continue
            seen.add(id(parent))
            out.append(parent)
            frontier.extend(parent.input_tensors)
        return out
