"""Build a real torch.nn.Module from a spec: `to_torch(network)`.

Each node's module comes from its layer model (`layer.to_torch(input_shapes)`), so this file holds
no per-kind logic. Dotted node names become nested submodules, so `layer1.0.conv1` is reachable as
`model.layer1[0].conv1`-style attributes and its weight is the state_dict key `layer1.0.conv1.weight`,
as in torchvision.
"""
from __future__ import annotations

from torch import nn

from ..errors import SpecError
from ..graph import INPUT, Network
from ..memory.schedule import indices_of, produced, read_values


class Container(nn.Module):
    """A namespace for nested node names (the `layer1` in `layer1.0.conv1`); it has no forward."""


class SpecModule(nn.Module):
    """A network built from a convshape spec; forward runs the nodes in the spec's order."""

    def __init__(self, network: Network, modules: dict):
        super().__init__()
        self.network_name = network.name
        # (name, input names, names whose value is no longer needed after this node)
        # (name, values read, whether it yields indices, values no longer needed after this node);
        # an index input reads the named pool's indices, kept under indices_of(name) beside its output
        self._steps = []
        last_use: dict = {}
        for idx, node in enumerate(network.nodes):
            for i in produced(node) + read_values(node):
                last_use[i] = idx
        outputs = network.output_names
        for idx, node in enumerate(network.nodes):
            _attach(self, node.name, modules[node.name])
            reads = read_values(node)
            free = tuple(i for i in dict.fromkeys(reads + produced(node)[1:])
                         if last_use.get(i) == idx and i not in outputs)
            self._steps.append((node.name, tuple(reads), node.layer.has_indices(), free))
        self._outputs = outputs
        self._inputs = network.input_names

    def node_module(self, name: str) -> nn.Module:
        return self.get_submodule(name)

    def run(self, x, keep: bool = False) -> dict:
        """Execute the graph; with keep=True return every node's output by name (and a pool's indices
        under memory.schedule.indices_of(name)). Several named
        inputs: `x` is a tuple of tensors in the spec's order, or a dict by name."""
        if len(self._inputs) > 1 or self._inputs != (INPUT,):
            xs = x if isinstance(x, dict) else dict(zip(self._inputs, x if isinstance(x, (tuple, list)) else (x,)))
            values = {name: xs[name] for name in self._inputs}
        else:
            values = {INPUT: x}
        for name, inputs, indices, free in self._steps:
            module = self.get_submodule(name)
            if indices:  # (output, int64 argmax indices)
                values[name], values[indices_of(name)] = module(*[values[i] for i in inputs])
            else:
                values[name] = module(*[values[i] for i in inputs])
            if not keep:
                for i in free:
                    del values[i]
        return values

    def forward(self, *xs):
        """The output tensor, or a tuple of them in the order of the spec's `outputs`; one tensor
        argument per input."""
        values = self.run(xs[0] if len(xs) == 1 else xs)
        if len(self._outputs) == 1:
            return values[self._outputs[0]]
        return tuple(values[name] for name in self._outputs)

    def extra_repr(self):
        return f"network={self.network_name!r}"


def _attach(root: nn.Module, name: str, module: nn.Module):
    parts = name.split(".")
    parent = root
    for depth, part in enumerate(parts[:-1]):
        child = parent._modules.get(part)
        if child is None:
            child = Container()
            _add(parent, part, child, ".".join(parts[:depth + 1]))
        elif not isinstance(child, Container):
            raise SpecError(f"layer name '{name}' nests under layer '{'.'.join(parts[:depth + 1])}', "
                            f"which is a layer itself")
        parent = child
    _add(parent, parts[-1], module, name)


def _add(parent: nn.Module, part: str, module: nn.Module, full: str):
    if part in parent._modules:
        raise SpecError(f"layer name '{full}' is used both as a layer and as a block prefix")
    try:
        parent.add_module(part, module)
    except (KeyError, TypeError) as e:
        raise SpecError(f"layer name '{full}' cannot be a torch module name: {e}") from None


def node_input_shapes(network: Network, input_shape=None) -> dict:
    """name -> list of input shapes for every node (from one analysis pass)."""
    from ..analysis import analyze
    report = analyze(network, input_shape)
    shapes = {INPUT: report.input_shape, **report.inputs}
    for r in report.layers:
        shapes[r.name] = r.output_shape
    return {n.name: [shapes[i] for i in n.inputs] for n in network.nodes}


def to_torch(network: Network | str, input_shape=None) -> SpecModule:
    """Real torch.nn modules for a spec (a Network, a path or `zoo:NAME`), in eval mode.

    `input_shape` overrides the spec's input; it only matters for sizes inferred from the input
    (in_channels, in_features, ...). Weights are torch's default initialization.
    """
    if isinstance(network, str):
        from ..spec import load
        network = load(network)
    ins = node_input_shapes(network, input_shape)
    modules = {}
    for node in network.nodes:
        if node.shares is not None:  # one module called again: the same parameters
            modules[node.name] = modules[node.shares]
            continue
        modules[node.name] = node.layer.to_torch(ins[node.name])
        if node.frozen:
            modules[node.name].requires_grad_(False)
    # the parts of one split (the same `split` name on the same input) split it once, as torch code does
    from .modules import share_splits
    share_splits([[modules[n.name] for n in parts] for parts in network.split_parts().values()])
    return SpecModule(network, modules).eval()


__all__ = ["to_torch", "SpecModule", "Container", "node_input_shapes"]

