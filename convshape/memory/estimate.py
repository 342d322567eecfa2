"""Memory figures of a network from its analysed shapes: the inference peak of eager PyTorch and
what autograd saves for backward in a training forward. torch is never imported here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..dims import prod, total
from ..graph import INPUT
from .layout import CHANNELS_LAST, RELAID_WEIGHT, RESHAPES, STRIDING, reshape_copies, value_strides
from .rules import NEEDS_STRIDES, SAVED, Grads, buffer_bytes, output_alias, strides_kwarg, temporaries, unused_bytes
from .schedule import indices_of, input_values, live_peak, read_values


@dataclass
class Memory:
    resident_bytes: Any          # parameters and buffers
    inference_peak_bytes: Any    # eval, no grad: resident + the largest set of live storages
    inference_peak_layer: str | None
    saved_bytes: Any             # train mode: distinct storages autograd keeps for backward
    saved_by_layer: dict         # layer name -> bytes it is the first to keep
    unknown: tuple               # layers whose saved tensors or temporaries convshape does not model (by name)
    peak_unknown: tuple = ()     # imported: layers whose value torch copies where no layer stands for the copy
    temporaries_unknown: tuple = ()   # layers whose inference temporaries are not modelled (by name)


def layouts_if_read(network, shapes: dict, training: bool) -> dict:
    """Every value's strides, computed only when something reads them (half the memory pass): a
    MatMul's rule, or a reshape in a network with a kind that can make a strided value."""
    kinds = {node.kind for node in network.nodes}
    # a Linear, a reshape or (training) a 2-D convolution's weight gradient reads them only where some
    # value can be strided
    readers = RESHAPES | {"Linear"} | (RELAID_WEIGHT if training else set())
    if not kinds & (NEEDS_STRIDES - {"Linear"}) and not (kinds & readers and kinds & (STRIDING | CHANNELS_LAST)):
        return {}
    return value_strides(network, shapes, training)


def storages(network, shapes: dict, out_bytes: dict, width: int, training: bool, copies=frozenset()):
    """(storage key per value, bytes per storage key): a view or in-place output shares its input's;
    copies: the reshapes torch cannot view (layout.reshape_copies), which make their own."""
    storage_of = {name: name for name in network.input_names}
    storage_of.setdefault(INPUT, network.input_names[0])   # `input` reads the first of several inputs
    sizes = {name: prod(shapes[name]) * width for name in network.input_names}
    for node in network.nodes:
        if output_alias(node.layer, training) and node.inputs and node.name not in copies:
            storage_of[node.name] = storage_of[node.inputs[0]]
        else:
            storage_of[node.name] = node.name
            sizes[node.name] = out_bytes[node.name]
        if node.layer.has_indices():  # its own storage, freed after its own last reader
            key = indices_of(node.name)
            storage_of[key], sizes[key] = key, 8 * prod(shapes[node.name])
            sizes[node.name] -= sizes[key]
    return storage_of, sizes


def estimate_memory(network, shapes: dict, results: list, width: int) -> Memory:
    out_bytes = {r.name: r.activation_bytes for r in results}
    resident = total([r.trainable_params * width + (r.params - r.trainable_params) * width
                      + buffer_bytes(node.layer, r.buffers, width) for node, r in zip(network.nodes, results)]
                     + [unused_bytes(network, width)])
    layouts = layouts_if_read(network, shapes, training=False)
    copies, undecided = reshape_copies(network, shapes, layouts) if layouts else (frozenset(), ())
    storage_of, sizes = storages(network, shapes, out_bytes, width, training=False, copies=copies)
    during, no_rule = {}, []
    for i, node in enumerate(network.nodes):
        extra = temporaries(node.layer, [shapes[n] for n in node.inputs], shapes[node.name], width,
                            strides=[layouts.get(n) for n in node.inputs] if layouts else None)
        if extra is None:
            no_rule.append(node.name)
        elif extra != 0:
            during[i] = extra
    peak, at = live_peak(network, storage_of, sizes, keep=input_values(network), during=during)
    saved, by_layer, unknown = saved_for_backward(network, shapes, results, width, training=True)
    # code forward runs only in train mode is not in the network: what it saves is not counted
    unknown = tuple(dict.fromkeys(unknown + tuple(no_rule) + network.train_only_of()))
    unseen = tuple(dict.fromkeys(tuple(getattr(network, "unseen_copies", None) or ()) + undecided))
    return Memory(resident_bytes=resident, inference_peak_bytes=resident + peak,
                  inference_peak_layer=network.nodes[at].name if at is not None and at >= 0 else None,
                  saved_bytes=saved, saved_by_layer=by_layer, unknown=unknown,
                  peak_unknown=unseen,
                  temporaries_unknown=tuple(no_rule))


def saved_for_backward(network, shapes: dict, results: list, width: int, training: bool = True):
    """(total bytes, per-layer bytes, unknown layer names): the distinct storages autograd keeps,
    each counted for the first layer that keeps it."""
    plan = saved_plan(network, shapes, results, width, training)
    return total(plan.kept.values()), plan.by_layer, plan.unknown


def weight_owners(network, results) -> dict:
    """Layer name -> trainable parameters its call uses: a call that shares another layer's weights
    (Node.shares) uses the owner's, which the owner's LayerResult counts."""
    own = {r.name: r.trainable_params for r in results}
    out = {}
    for node in network.nodes:
        owner = node.name
        while network.nodes[network.index[owner]].shares is not None:
            owner = network.nodes[network.index[owner]].shares
        out[node.name] = own[owner]
    return out


@dataclass
class SavedPlan:
    storage_of: dict     # value name -> storage key
    sizes: dict          # storage key -> bytes (saved extras included, keyed (layer, j))
    kept: dict           # storage key autograd keeps -> bytes
    first_saver: dict    # storage key -> index of the first node keeping it (backward frees it there)
    by_layer: dict
    unknown: tuple
    needs_grad: dict     # value name -> does autograd carry a gradient for it
    copies: frozenset = frozenset()   # reshapes torch cannot view (their own storage)
    layouts: dict = field(default_factory=dict)   # value name -> strides, where computed (layout.py)
    savers: dict = field(default_factory=dict)    # storage key -> indices of every node keeping it


def saved_plan(network, shapes: dict, results: list, width: int, training: bool = True) -> SavedPlan:
    """What autograd keeps, storage by storage. The network input needs no gradient; a layer's
    weights need one when it has trainable parameters (Params.trainable: frozen ones need none)."""
    out_bytes = {r.name: r.activation_bytes for r in results}
    layouts = layouts_if_read(network, shapes, training)
    copies, undecided = reshape_copies(network, shapes, layouts) if layouts else (frozenset(), ())
    storage_of, sizes = storages(network, shapes, out_bytes, width, training, copies)
    needs_grad = dict.fromkeys(input_values(network), False)   # the network's inputs need no gradient
    trainable = weight_owners(network, results)
    kept: dict = {}
    first: dict = {}
    savers: dict = {}
    by_layer: dict = {}
    unknown = list(undecided)   # a reshape that may copy: the storages it shares with its input are open
    for index, (node, r) in enumerate(zip(network.nodes, results)):
        layer = node.layer
        grads = Grads(inputs=tuple(needs_grad[i] and j not in layer.index_inputs for j, i in enumerate(node.inputs)),
                      weight=trainable[node.name] != 0,
                      training=training)
        needs_grad[node.name] = grads.any
        mine = 0
        if grads.any:
            rule = SAVED.get(layer.kind)
            saved = rule(layer, [shapes[i] for i in node.inputs], shapes[node.name], grads, width,
                         **strides_kwarg(layer.kind, [layouts.get(i) for i in node.inputs] if layouts else None)) \
                if rule else None
            if saved is None:
                unknown.append(node.name)
            else:
                reads = read_values(node)
                keys = [storage_of[reads[i]] for i in saved.inputs]
                if saved.output:
                    keys.append(storage_of[node.name])
                if saved.indices:
                    keys.append(storage_of[indices_of(node.name)])
                for j, b in enumerate(saved.extra):
                    sizes[(node.name, j)] = b
                    keys.append((node.name, j))
                for key in keys:
                    savers.setdefault(key, []).append(index)
                    if key not in kept:
                        kept[key] = sizes[key]
                        first[key] = index
                        mine += kept[key]
        by_layer[node.name] = mine
    return SavedPlan(storage_of=storage_of, sizes=sizes, kept=kept, first_saver=first, by_layer=by_layer,
                     unknown=tuple(unknown), needs_grad=needs_grad, copies=copies, layouts=layouts,
                     savers=savers)
