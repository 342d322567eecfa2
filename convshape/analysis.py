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
    shapes = {INPUT: x0}
    rf_states = {INPUT: rfmod.initial(x0)}
    needs_grad = {INPUT: False}
    results = []
    all_conditions = []
    failure = None
    token, bucket = collect_conditions()
    try:
        for node in network.nodes:
            layer = node.layer
            ins = [shapes[i] for i in node.inputs]
            start = len(bucket)
            try:
                inferred = layer.check_inferred(ins)
                out = tuple(layer.output_shape(ins))
                p = layer.params(ins)
                trainable, frozen = p.trainable, p.frozen
                buffers = layer.buffers(ins)
                macs = layer.macs(ins, out)
                other = layer.other_ops(ins, out)
                input_grad = any(needs_grad[i] for i in node.inputs)
                bwd = layer.backward_macs(ins, out, input_grad)
                op = layer.receptive_field(ins, out)
            except ShapeError as e:
                located = e.in_layer(layer=node.name, kind=layer.kind, input_shapes=ins,
                                     location=network.location(node))
                if on_error == "raise":
                    raise located from None
                failure = located
                del bucket[start:]
                break
            needs_grad[node.name] = input_grad or (trainable != 0)
            if len(node.inputs) == 1:
                state = rfmod.apply(op, rf_states[node.inputs[0]], len(out))
                aligned = None
            else:
                state, aligned = rfmod.merge([rf_states[i] for i in node.inputs], len(out))
                state = rfmod.apply(op, state, len(out))
            rf_states[node.name] = state
            shapes[node.name] = out
            elements = prod(out)
            conds = _unique(bucket[start:])  # rules may ask the same question more than once
            del bucket[start:]
            for c in conds:
                c.layer = node.name
            bucket.extend(conds)
            results.append(LayerResult(
                name=node.name, type=layer.kind, inputs=node.inputs, output_shape=out,
                params=trainable + frozen, trainable_params=trainable, buffers=buffers, macs=macs,
                other_ops=other, flops_backward=2 * bwd, activation_elements=elements,
                activation_bytes=elements * width, receptive_field=rfmod.to_report(state, x0, aligned),
                line=node.line, column=node.column, groups=node.groups, conditions=list(conds),
                inferred=inferred, scopes=node.scopes,
            ))
        all_conditions = list(bucket)
    finally:
        release_conditions(token)
    params = total(r.params for r in results)
    totals = Totals(
        params=params, trainable_params=total(r.trainable_params for r in results),
        buffers=total(r.buffers for r in results), macs=total(r.macs for r in results),
        flops_backward=total(r.flops_backward for r in results),
        other_ops=total(r.other_ops for r in results),
        activation_elements=total(r.activation_elements for r in results),
        activation_bytes=total(r.activation_bytes for r in results), param_bytes=params * width,
    )
    symbols = tuple(d for d in raw_input if isinstance(d, str))
    return Report(network=network.name, input_shape=x0, dtype=dtype, layers=results, totals=totals,
                  file=network.file, conditions=all_conditions, symbols=symbols, failure=failure)


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
