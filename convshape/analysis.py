"""Walk the graph once and produce a Report (like torch.fx's ShapeProp), naming the node that fails."""
from __future__ import annotations

from . import rf as rfmod
from .dims import (collect_conditions, release_conditions, symbol, total, prod)
from .errors import ShapeError
from .gcpause import paused_gc
from .graph import INPUT, Network
from .report import DTYPE_BYTES, LayerResult, Report, Totals


def resolve_input(shape) -> tuple:
    """Symbol names become sympy symbols; ints stay ints (so concrete analysis never loads sympy)."""
    return tuple(d if isinstance(d, int) else symbol(d) for d in shape)


def analyze(network: Network, input_shape=None, dtype: str = "float32", on_error: str = "raise") -> Report:
    """Shapes, counts and receptive fields of every layer, in one walk.

    on_error="raise" (default): a layer invalid for its input raises a located ShapeError.
    on_error="stop": the walk ends at that layer instead and returns a partial Report holding the
    layers before it, with the error in `report.failure` (lint explains it with its error rules).
    """
    with paused_gc():
        return _analyze(network, input_shape, dtype, on_error)


def _analyze(network: Network, input_shape, dtype: str, on_error: str) -> Report:
    if on_error not in ("raise", "stop"):
        raise ValueError(f"on_error must be 'raise' or 'stop', got {on_error!r}")
    if dtype not in DTYPE_BYTES:
        from .errors import SpecError
        raise SpecError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}")
    raw_input = tuple(input_shape) if input_shape is not None else network.input_shape
    _check_input_rank_bound(network, raw_input, given=input_shape is not None)
    x0 = resolve_input(raw_input)
    width = DTYPE_BYTES[dtype]
    # several named inputs: an input_shape given replaces the first one's shape
    named = [(n, raw_input if j == 0 else tuple(s)) for j, (n, s) in enumerate(network.inputs)] or \
        [(INPUT, raw_input)]
    shapes = {n: resolve_input(s) for n, s in named}
    rf_states = {n: rfmod.initial(x) for n, x in shapes.items()}
    n_axes = max(len(x0) - 2, 0)
    # a field counts the positions of the first input of its spatial rank (rf.frame): its sizes bound a global one
    frames = {max(len(x) - 2, 0): x for x in reversed(shapes.values())}
    needs_grad = dict.fromkeys(shapes, False)
    unread = set(network.unread())  # no output depends on them: no gradient flows back through them
    results = []
    all_conditions = []
    failure = None
    token, bucket = collect_conditions()
    splits: dict = {}   # (split name, input) -> (kind, dim, [(start, end, part)]): the parts seen so far
    try:
        for node in network.nodes:
            layer = node.layer
            ins = [shapes[i] for i in node.inputs]
            start = len(bucket)
            try:
                _check_index_inputs(network, node)
                _check_split_part(node, ins, splits)
                inferred = layer.check_inferred(ins)
                out = tuple(layer.output_shape(ins))
                p = layer.params(ins)
                trainable, frozen = p.trainable, p.frozen
                if node.frozen:  # requires_grad=False on every parameter of the layer
                    trainable, frozen = 0, trainable + frozen
                weight_grad = trainable != 0
                if node.shares is not None:  # the owner's weights: counted once, at the owner
                    owner = _owner(results, node, layer, trainable + frozen)
                    weight_grad = owner.trainable_params != 0
                    trainable, frozen = 0, 0
                buffers = 0 if node.shares is not None else layer.buffers(ins)   # the owner's, as params
                macs = layer.macs(ins, out)
                other = layer.other_ops(ins, out)
                input_grad = any(needs_grad[i] for j, i in enumerate(node.inputs) if j not in layer.index_inputs)
                bwd = 0 if node.name in unread else layer.backward_macs(ins, out, input_grad, weight_grad)
                op = layer.receptive_field(ins, out)
            except ShapeError as e:
                located = e.in_layer(layer=node.name, kind=layer.kind, input_shapes=ins,
                                     location=network.location(node))
                if on_error == "raise":
                    raise located from None
                failure = located
                del bucket[start:]
                break
            needs_grad[node.name] = input_grad or weight_grad
            if len(node.inputs) == 1:
                state = rfmod.apply(op, rf_states[node.inputs[0]], len(out))
                aligned = None
            else:
                state, aligned = rfmod.merge([rf_states[i] for i in node.inputs], n_axes)
                state = rfmod.apply(op, state, len(out))
            rf_states[node.name] = state
            shapes[node.name] = out
            elements = prod(out)
            index_bytes = 8 * elements if layer.has_indices() else 0  # int64 argmax indices beside the output
            conds = _unique(bucket[start:])  # rules may ask the same question more than once
            del bucket[start:]
            for c in conds:
                c.layer = node.name
            bucket.extend(conds)
            results.append(LayerResult(
                name=node.name, type=layer.kind, inputs=node.inputs, output_shape=out,
                params=trainable + frozen, trainable_params=trainable, buffers=buffers, macs=macs,
                other_ops=other, flops_backward=2 * bwd, activation_elements=elements,
                activation_bytes=elements * width + index_bytes, receptive_field=rfmod.to_report(state, frames.get(len(state.fields), x0), aligned),
                line=node.line, column=node.column, groups=node.groups, conditions=list(conds),
                inferred=inferred, scopes=node.scopes, shares=node.shares,
                frozen=node.frozen,
            ))
        all_conditions = list(bucket)
    finally:
        release_conditions(token)
    # parameters of modules forward never calls (imported models): in the totals, as sum(p.numel()) is
    unused = [{"module": m, "params": n, "trainable_params": t, "buffers": b, "int64_buffers": i}
              for m, n, t, b, i in network.unused_params]
    params = total([r.params for r in results] + [u["params"] for u in unused])
    totals = Totals(
        params=params, trainable_params=total([r.trainable_params for r in results] +
                                              [u["trainable_params"] for u in unused]),
        buffers=total([r.buffers for r in results] + [u["buffers"] for u in unused]), macs=total(r.macs for r in results),
        flops_backward=total(r.flops_backward for r in results),
        other_ops=total(r.other_ops for r in results),
        activation_elements=total(r.activation_elements for r in results),
        activation_bytes=total(r.activation_bytes for r in results), param_bytes=params * width,
    )
    symbols = tuple(dict.fromkeys(d for _, s in named for d in s if isinstance(d, str)))
    done = {r.name for r in results}
    outputs = [o for o in network.output_names if o in done] if failure is None else []
    unread = [n.name for n in network.nodes if n.name in unread] if failure is None else []
    if failure is None and results:
        _add_memory(network, shapes, results, totals, width)
    return Report(network=network.name, input_shape=x0, dtype=dtype, layers=results, totals=totals,
                  file=network.file, conditions=all_conditions, symbols=symbols, failure=failure,
                  outputs=outputs, unread=unread, unused_params=unused,
                  inputs={n: shapes[n] for n, _ in network.inputs}, source_network=network)


def _check_index_inputs(network: Network, node):
    """An index input (MaxUnpool's second) must name a node that yields indices, and only it may."""
    layer = node.layer
    for j, name in enumerate(node.inputs):
        source = network.nodes[network.index[name]].layer if name in network.index else None
        if j in layer.index_inputs and not (source is not None and source.has_indices()):
            raise ShapeError(f"input {j + 1} ('{name}') must be a MaxPool with return_indices: true, whose "
                             f"indices {layer.kind} reads", argument="inputs", value=name)


def _check_split_part(node, ins, splits: dict):
    """The parts of one split (the same `split` name on the same input) are one kind, along one dim,
    and do not overlap: torch.split's parts tile their input (one part may be read twice: spx[0])."""
    label = getattr(node.layer, "split", None)
    if label is None or not ins:
        return
    dim, start, length = node.layer.split_part(ins[0])
    kind, d, seen = splits.setdefault((label, node.inputs[0]), (node.kind, dim, []))
    if kind != node.kind or d != dim:
        raise ShapeError(f"split '{label}' has a part along dim {d}{'' if kind == node.kind else ' (' + kind + ')'}: "
                         f"the parts of one split are one kind along one dim, this one is a {node.kind} along dim "
                         f"{dim}", argument="split", value=label)
    if type(start) is int and type(length) is int:
        for lo, hi, other in seen:
            if (lo, hi) != (start, start + length) and start < hi and lo < start + length:  # equal: one part read twice
                raise ShapeError(f"split '{label}': this part ({start}..{start + length}) overlaps part '{other}' "
                                 f"({lo}..{hi}): the parts of one split do not overlap (a second split of the "
                                 f"same tensor takes another name)", argument="split", value=label)
        seen.append((start, start + length, node.name))


def _owner(results, node, layer, params):
    """The LayerResult of the node whose weights `node` reuses; its weights must fit this call."""
    owner = next((r for r in results if r.name == node.shares), None)
    while owner is not None and owner.shares is not None:  # a chain of calls: the first one holds them
        owner = next((r for r in results if r.name == owner.shares), None)
    if owner is None:
        raise ShapeError(f"shares the weights of '{node.shares}', which is not an earlier layer",
                         argument="shares", value=node.shares)
    if owner.type != layer.kind or owner.params != params:
        raise ShapeError(f"shares the weights of '{node.shares}' ({owner.type}, {owner.params} parameters) but "
                         f"would hold {params} parameters of its own as {layer.kind} at this input",
                         argument="shares", value=node.shares)
    return owner


def _add_memory(network, shapes, results, totals, width):
    """Inference peak and saved-for-backward bytes (convshape/memory), per layer and in total, on
    first read: the report holds the pass, analyze() does not run it."""
    from functools import partial
    from .report import LazyMemory
    lazy = LazyMemory(partial(_estimate_memory, network, shapes, results, width))
    totals.memory_pass = lazy
    for r in results:
        r.memory_pass = lazy


def _estimate_memory(network, shapes, results, width):
    from .memory import estimate_memory
    return estimate_memory(network, shapes, results, width)


MAX_INPUT_DIMS = 64  # symbolic work grows with the dims (2,000 symbols: 30 s); no CNN input comes close


def _check_input_rank_bound(network: Network, shape: tuple, given: bool):
    if len(shape) <= MAX_INPUT_DIMS:
        return
    from .errors import SpecError
    line, column = (None, None) if given or network.source is None else network.source.where(("input",))
    raise SpecError(f"the input has {len(shape)} dims; convshape analyzes inputs of at most {MAX_INPUT_DIMS}",
                    file=network.file, line=line, column=column, field=None if given else "input")


def _unique(conditions):
    seen, out = set(), []
    for c in conditions:
        key = str(c.expr)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
