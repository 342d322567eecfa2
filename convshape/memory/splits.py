"""Backward of the slicing views: the parts of one split, plain narrows and selects (docs/memory.md).

torch.split / chunk / unbind give parts that share one autograd node: its backward waits for every
part's gradient, makes zeros for the parts without one and cats (stacks) them into one input-sized
gradient. A plain narrow or select (x[:, :8], x[:, 0], tensor_split's parts) has a backward of its
own that writes its gradient into input-sized zeros, so two slices of one tensor make two such
gradients, summed. Measured against the live-storage tracker (tests/test_memory_splits.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..dims import prod


@dataclass(eq=False)
class Split:
    input: str                      # the tensor split
    input_bytes: object
    first: int = 0                  # index of its first part: backward reaches it last, and runs the split's there
    part_bytes: dict = field(default_factory=dict)   # part (node name) -> its bytes
    slot: dict = field(default_factory=dict)         # part (node name) -> which output of the split it reads
    unbind: bool = False            # UnbindBackward: a part without a gradient is a 0-d zero expanded (one element)
    outputs: object = 0             # how many outputs the unbind has (its dim's size)
    width: int = 4

    def zeros_bytes(self, with_grad) -> object:
        """Bytes of the zeros made for the parts without a gradient (`with_grad`: the parts with one):
        split_with_sizes_backward makes each part-sized, unbind_backward one element each."""
        if self.unbind:
            return (self.outputs - len({self.slot[name] for name in with_grad})) * self.width
        return self.input_bytes - sum(self.part_bytes[name] for name in with_grad)


def split_groups(network, shapes, width) -> dict:
    """Node name -> its Split, for the parts (layers with `split`) of each split: the same `split`
    name on the same input."""
    of: dict = {}
    for (_label, source), parts in network.split_parts().items():
        x = tuple(shapes[source])
        slots = {n.name: n.layer.split_part(x) for n in parts}
        s = Split(input=source, input_bytes=prod(x) * width, first=network.index[parts[0].name],
                  unbind=parts[0].kind == "Index", outputs=x[slots[parts[0].name][0]], width=width, slot=slots)
        for n in parts:
            s.part_bytes[n.name] = prod(shapes[n.name]) * width
            of[n.name] = s
    return of


def whole_view(node, shapes) -> bool:
    """A narrow, index or expand that keeps every element as it is (x[:, :], narrow(1, 0, C), an expand
    to its own size): torch returns an alias (sum_to returns the gradient), whose gradient is the
    incoming one."""
    if node.kind not in ("Narrow", "Index", "Expand") or getattr(node.layer, "split", None) is not None:
        return False
    if node.kind in ("Narrow", "Expand"):
        return tuple(shapes[node.name]) == tuple(shapes[node.inputs[0]])
    return not _chain(node.layer, shapes[node.inputs[0]])


def _chain(layer, x) -> list:
    """Input elements of each select / slice x[index] applies, in torch's order (a full slice is
    skipped, a new axis is a view): what each of their backwards allocates."""
    plan, _ = layer._plan(tuple(x))
    shape, d, sizes = list(x), 0, []
    for p in plan:
        if p[0] == "new":
            shape.insert(d, 1)
            d += 1
        elif p[0] == "int":
            sizes.append(prod(shape))
            del shape[d]
        else:
            _, _, start, length, step = p
            if not (start == 0 and step == 1 and length == shape[d]):
                sizes.append(prod(shape))
                shape[d] = length
            d += 1
    return sizes


def slice_backward_extra(node, shapes, width, incoming_bytes):
    """Bytes an Index's backward holds beyond its input-sized gradient: x[a, b] is a select (or slice)
    of a select, each backward making zeros of its own input's size, the previous one released only
    after: the peak pair of the chain, less the incoming gradient (`incoming_bytes`: 0 for an output's
    expanded one) and the final (input-sized) one."""
    if node.kind != "Index" or getattr(node.layer, "split", None) is not None:
        return 0
    sizes = _chain(node.layer, shapes[node.inputs[0]])
    if len(sizes) < 2:
        return 0
    pairs = max(a + b for a, b in zip(sizes, sizes[1:]))
    return max(0, (pairs - sizes[0]) * width - incoming_bytes)
