"""Memory of one training step in eager PyTorch: forward with what autograd keeps, backward, and the
optimizer step, from the analysed shapes (docs/memory.md). torch is never imported here.

The step is `loss = model(x).sum(); loss.backward(); optimizer.step(); optimizer.zero_grad()` from
the second step on, when the optimizer state exists and the gradients start as None.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..dims import prod
from ..graph import INPUT
from .estimate import saved_plan, weight_owners
from .rules import EVAL_IDENTITY, VIEWS, buffer_bytes, output_alias, unused_bytes
from .schedule import input_values, last_uses, produced
from .layout import RELAID_WEIGHT, channels_last, channels_last_like, contiguous
from .views import view_state
from .splits import slice_backward_extra, split_groups, whole_view
from .unmodelled import could_reach

# optimizer -> state tensors per trainable parameter (torch.optim, CPU single-tensor path)
STATE_PER_PARAM = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}
# temporaries of the largest parameter during step(): Adam's denom = (exp_avg_sq.sqrt() / c).add_(eps)
STEP_TEMPORARIES = {"sgd": 0, "sgd-momentum": 0, "adam": 2, "adamw": 2}
# backward passes the incoming gradient through (or a view of it): no new storage. Not the slicing
# views: a narrow's or select's backward writes the gradient into input-sized zeros (SliceBackward,
# SelectBackward), expand's sums it to the input (ExpandBackward), unfold's scatters it (UnfoldBackward);
# the parts of one split share one cat (splits.py)
PASS_THROUGH = (VIEWS - {"Narrow", "Index", "Expand", "TensorUnfold"}) | {"Concat", "Stack", "ParamConcat"}


@dataclass
class TrainingMemory:
    peak_bytes: Any
    phase: str                   # "forward", "backward" or "optimizer step": where the peak is
    layer: str | None            # the layer running at the peak
    weights_bytes: Any           # parameters and buffers in the model dtype
    master_bytes: Any            # float32 master weights (mixed precision), else 0
    gradient_bytes: Any          # gradients of the trainable parameters
    optimizer_bytes: Any         # optimizer state
    saved_bytes: Any             # what autograd keeps for backward
    unknown: tuple               # layers whose saved tensors or train-mode temporaries convshape does not model


def training_step(network, report, optimizer: str = "sgd", mixed_precision: bool = False) -> TrainingMemory:
    """Peak bytes of one training step. mixed_precision: the model (and its gradients) in
    report.dtype, float32 master weights and optimizer state, gradients cast to float32 for step()."""
    if optimizer not in STATE_PER_PARAM:
        raise ValueError(f"optimizer must be one of {', '.join(STATE_PER_PARAM)}, got {optimizer!r}")
    from ..report import DTYPE_BYTES
    width = DTYPE_BYTES[report.dtype]
    results = report.layers
    shapes = {INPUT: tuple(report.input_shape)}
    shapes.update((name, tuple(shape)) for name, shape in report.inputs.items())
    shapes.update((r.name, tuple(r.output_shape)) for r in results)
    trainable = sum(r.trainable_params for r in results)
    weights = sum(r.params * width + buffer_bytes(n.layer, r.buffers, width) for n, r in zip(network.nodes, results)) \
        + unused_bytes(network, width)
    opt_width = 4 if mixed_precision else width
    # a float32 master for every trainable parameter, those of modules forward never calls too
    master = 4 * (trainable + sum(t for _m, _n, t, *_ in network.unused_params)) if mixed_precision else 0
    # optimizer state exists for the parameters that get a gradient: none for a branch no output reads
    dead = set(network.unread())
    stepped = sum(r.trainable_params for r in results if r.name not in dead)
    state = STATE_PER_PARAM[optimizer] * stepped * opt_width
    resident = weights + master + state
    plan = saved_plan(network, shapes, results, width, training=True)

    frees = last_uses(network, frames=bool(getattr(network, "frontend", None)))
    releases = dead_branch_releases(network, plan, frees, dead)
    fwd_live: dict = {}
    bwd_now: dict = {}
    fwd_peak, fwd_at, fwd_end = _forward_peak(network, plan, frees, releases, fwd_live)
    # the loss: one output's sum, or s0 + s1 (+ s2 ...) with two sums and their total alive at once
    loss = width if len(network.output_names) == 1 else 3 * width
    if fwd_end + loss > fwd_peak:   # what the forward keeps for backward, its outputs and the loss
        fwd_peak, fwd_at = fwd_end + loss, len(network.nodes) - 1
    bwd_peak, bwd_at, grads, in_place_unknown = _backward_peak(network, results, plan, width, shapes, releases,
                                                               bwd_now)
    # backward() keeps the loss and the ones it starts from (torch.autograd's grad_tensors) throughout
    bwd_peak += 2 * width
    largest = max((r.trainable_params for r in results if r.name not in dead), default=0)
    step = grads + STEP_TEMPORARIES[optimizer] * largest * opt_width
    if mixed_precision:
        # each half gradient is cast onto its float32 master and dropped, in parameter order (layer by
        # layer here), then step() sees float32 gradients only
        step = max(_cast_peak([r.trainable_params for r in results if r.name not in dead], width),
                   4 * stepped + STEP_TEMPORARIES[optimizer] * largest * 4)
    candidates = [(resident + fwd_peak, "forward", fwd_at), (resident + bwd_peak, "backward", bwd_at),
                  (resident + sum(shapes_bytes(shapes, n, width) for n in network.input_names) + step,
                   "optimizer step", None)]
    peak, phase, at = max(candidates, key=lambda c: c[0])
    # layers whose train-mode temporaries are not modelled, where their bound could reach the peak
    bwd_now = {i: v + 2 * width for i, v in bwd_now.items()}   # the loss and its ones, as bwd_peak
    unmodelled = could_reach(network, shapes, width, peak, resident, fwd_live, bwd_now)
    return TrainingMemory(peak_bytes=peak, phase=phase, layer=network.nodes[at].name if at is not None else None,
                          weights_bytes=weights, master_bytes=master, gradient_bytes=grads, optimizer_bytes=state,
                          saved_bytes=sum(plan.kept.values()),
                          unknown=tuple(dict.fromkeys(plan.unknown + in_place_unknown + network.train_only_of()
                                                      + tuple(unmodelled))))


def _cast_peak(chunks, width):
    """Gradient bytes while half gradients are cast to float32 one chunk at a time: the cast chunk
    is alive in both types, the ones before it in float32 only, the ones after it in half only."""
    rest, done, peak = sum(chunks), 0, 0
    for n in chunks:
        peak = max(peak, 4 * (done + n) + width * rest)
        rest -= n
        done += n
    return peak


def shapes_bytes(shapes, name, width):
    n = 1
    for d in shapes[name]:
        n *= d
    return n * width


def dead_branch_releases(network, plan, frees, dead: set) -> dict:
    """Storage key -> index of the forward node after which torch frees it: what only layers whose
    result reaches no output (`dead`, Network.unread) keep: an encoder stage nothing reads, a head
    run for nothing. Their autograd nodes die with the last tensor of the branch, and the tensors
    they saved with them."""
    consumers, index = network.consumers(), network.index
    freed = {name: i for i, names in enumerate(frees) for name in names}
    death: dict = {}
    for i in range(len(network.nodes) - 1, -1, -1):
        name = network.nodes[i].name
        if name in dead:             # its consumers are dead too: they come later and died already
            death[i] = max([freed.get(name, len(network.nodes) - 1)] +
                           [death[index[c]] for c in consumers.get(name, ()) if index[c] in death])
    releases = {}
    for key, who in plan.savers.items():
        if key in plan.kept and all(i in death for i in who):
            releases[key] = max(death[i] for i in who)
    return releases


def _forward_peak(network, plan, frees, releases, live_at=None):
    """Live storages during the forward: values until their last reader, kept ones until backward
    (or until a dead branch's last tensor goes: `releases`). -> (peak, its node index, live at the end)."""
    refs: dict = {}
    live = 0
    pinned = set()

    def hold(key):
        nonlocal live
        if refs.get(key, 0) == 0:
            live += plan.sizes[key]
        refs[key] = refs.get(key, 0) + 1

    def drop(key):
        nonlocal live
        refs[key] -= 1
        if refs[key] == 0:
            live -= plan.sizes[key]

    inputs = input_values(network)
    for name in network.input_names:   # the caller's inputs, all alive from the start
        hold(name)
    by_node: dict = {}
    for key, i in plan.first_saver.items():
        by_node.setdefault(i, []).append(key)
    released: dict = {}
    for key, i in releases.items():
        released.setdefault(i, []).append(key)
    peak, at = live, None
    for i, node in enumerate(network.nodes):
        for name in produced(node):
            hold(plan.storage_of[name])
        for key in by_node.get(i, ()):
            hold(key)
            pinned.add(key)
        if live > peak:
            peak, at = live, i
        if live_at is not None:
            live_at[i] = live
        for name in frees[i]:
            if name not in inputs:
                drop(plan.storage_of[name])
        for key in released.get(i, ()):
            drop(key)
    return peak, at, live


def _backward_peak(network, results, plan, width, shapes, releases=(), now_at=None):
    """Live storages during backward, layer by layer in reverse: what autograd still keeps, the
    inputs, the gradients in flight and the parameter gradients made so far. The loss is the sum of
    every output's sum, so each output's gradient starts as an expanded scalar (no storage); a
    shared layer's weight gradient is one buffer, made by its last call and accumulated into (in
    place) by the earlier ones, each of which makes its own gradient first."""
    live = sum(v for k, v in plan.kept.items() if k not in releases) + \
        sum(plan.sizes[n] for n in network.input_names if n not in plan.kept or n in releases)
    weight_grads = 0
    params = weight_owners(network, results)
    owner = {n.name: n.shares or n.name for n in network.nodes}
    while any(owner[o] != o for o in owner.values()):
        owner = {k: owner[v] for k, v in owner.items()}
    has_grad = set()
    grad_of: dict = {}
    gsize: dict = {}
    grefs: dict = {}
    for name in network.output_names:
        grad_of[name] = ("grad", name)
        gsize[("grad", name)] = 0     # d loss / d out: an expanded scalar
        grefs[("grad", name)] = 1
    views = view_state(network, shapes, plan.copies, plan.layouts)
    in_place_unknown = []
    freed_at: dict = {}
    for key, i in plan.first_saver.items():
        if key not in releases:     # a dead branch's were freed in the forward
            freed_at.setdefault(i, []).append(key)
    splits = split_groups(network, shapes, width)
    pending: dict = {}    # split -> the gradients of its parts, waiting for the split's one backward
    peak, at = live, None
    for i in range(len(network.nodes) - 1, -1, -1):
        node = network.nodes[i]
        g = grad_of.pop(node.name, None)
        split = splits.get(node.name)
        if split is not None and plan.needs_grad[node.name]:
            waiting = pending.setdefault(split, {})   # output of the split -> (a part, its gradient)
            slot = split.slot[node.name]
            if g is not None and slot in waiting:
                # one part read twice (res2net's spx[0]): its two gradients are summed, out of place
                summed = ("sum", node.name, i)
                gsize[summed], grefs[summed] = split.part_bytes[node.name], 1
                if live + gsize[summed] + weight_grads > peak:
                    peak, at = live + gsize[summed] + weight_grads, i
                live += gsize[summed]
                for old in (waiting[slot][1], g):
                    grefs[old] -= 1
                    if grefs[old] == 0:
                        live -= gsize[old]
                waiting[slot] = (node.name, summed)
            elif g is not None:
                waiting[slot] = (node.name, g)
            if i != split.first or not waiting:
                continue
            # SplitBackward (UnbindBackward) runs once every part's gradient is in: zeros for the parts
            # without one, then one cat (stack) of them all, input-sized; the parts' gradients go after
            parts = pending.pop(split).values()
            incoming = [key for _name, key in parts]
            key = ("grad", "split", i)
            gsize[key] = split.input_bytes
            pgrad, new, made = 0, split.input_bytes, [(split.input, key)]
            extra = split.zeros_bytes([name for name, _ in parts])
            relaid = 0
        elif g is None or not plan.needs_grad[node.name]:
            continue
        else:
            incoming = [g]
            pgrad, new, made, extra, relaid = _layer_backward(node, g, plan, shapes, width, params, gsize, views,
                                                             in_place_unknown, owner[node.name] not in has_grad)
        now = live + new + weight_grads + extra
        if now > peak:
            peak, at = now, i
        if now_at is not None:
            now_at[i] = now
        live += new - pgrad               # the parameter gradient joins weight_grads (or is added into it)
        if owner[node.name] not in has_grad:
            has_grad.add(owner[node.name])
            weight_grads += pgrad
        for name, key in made:
            grefs[key] = grefs.get(key, 0) + 1

        def release(key):
            nonlocal live
            grefs[key] -= 1
            if grefs[key] == 0:
                live -= gsize[key]
        # torch's engine then releases the incoming gradient and this layer's saved tensors, and only
        # then adds each input gradient into the one already waiting for that input
        for key in incoming:
            release(key)
        for key in freed_at.get(i, ()):
            live -= plan.kept[key]
        if relaid and live + weight_grads + relaid * width > peak:
            # AccumulateGrad, run once this layer's gradient and saved tensors are released, copies a
            # channels-last weight gradient into the weight's layout: both live for a moment
            peak, at = live + weight_grads + relaid * width, i
        for name, key in made:
            if name not in grad_of:
                grad_of[name] = key
                continue
            # a second consumer: measured, the two are summed out of place (even two expanded scalars
            # make a full tensor), and the sum replaces them
            old, summed = grad_of[name], ("sum", name, i)
            gsize[summed], grefs[summed] = shapes_bytes(shapes, name, width), 1
            live += gsize[summed]
            if live + weight_grads > peak:
                peak, at = live + weight_grads, i
            release(old)
            release(key)
            grad_of[name] = summed
    return peak, at, weight_grads, tuple(in_place_unknown)


def _layer_backward(node, g, plan, shapes, width, params, gsize, views, in_place_unknown, first_weight_grad: bool):
    """(parameter gradient bytes, new bytes, [(input, its gradient's key)], temporaries, relaid weight
    gradient elements) of one layer's backward."""
    pgrad = params[node.name] * width
    new = pgrad
    made = []
    for j, name in enumerate(node.inputs):
        if not plan.needs_grad[name] or j in node.layer.index_inputs:  # int64 indices carry no gradient
            continue
        through = node.kind in PASS_THROUGH or (node.kind in EVAL_IDENTITY and output_alias(node.layer, True)) \
            or (node.kind == "Add" and tuple(shapes[name]) == tuple(shapes[node.name])) \
            or (node.kind == "Reduce" and node.layer.op == "sum") \
            or whole_view(node, shapes)  # sum's gradient: grad expanded, a view; x[:, :] an alias
        if through:
            key = g
        else:
            key = ("grad", node.name, name)
            gsize[key] = shapes_bytes(shapes, name, width)
            new += gsize[key]
        made.append((name, key))
    extra = _backward_temporaries(node, shapes, width, pgrad > 0, bool(made), [name for name, _ in made])
    extra += slice_backward_extra(node, shapes, width, gsize.get(g, 0))
    if getattr(node.layer, "inplace", False) and output_alias(node.layer, True) and node.inputs:
        on_view = views.get(node.inputs[0], False)
        if on_view is None:
            in_place_unknown.append(node.name)
        elif on_view:   # CopySlices (views.py): the base's gradient and its copy, beside the slice's clone
            extra += 2 * shapes_bytes(shapes, node.inputs[0], width)
    relaid = 0
    if pgrad and node.kind in RELAID_WEIGHT and first_weight_grad:
        relaid = _weight_gradient_relaid(node, shapes, plan.layouts)
        if relaid is None:
            in_place_unknown.append(node.name)
            relaid = 0
    return pgrad, new, made, extra, relaid


def _weight_gradient_relaid(node, shapes, layouts):
    """Elements of the copy AccumulateGrad makes of a 2-D convolution's weight gradient: torch computes
    it channels-last from a channels-last input (measured, CPU), and a gradient whose strides differ
    from the (contiguous) weight's on a dim of size > 1 is copied into the weight's layout (autograd's
    layout contract): none for 1x1 and depthwise kernels. None where the input's layout is not known."""
    x = shapes[node.inputs[0]]
    if not layouts or len(x) != 4:
        return 0                        # every value contiguous (no layouts needed), or unbatched
    strides = layouts.get(node.inputs[0])
    if strides is None:
        return None
    if channels_last_like(x, strides) is not True:
        return 0
    layer = node.layer
    k = layer.kernel_size if isinstance(layer.kernel_size, tuple) else (layer.kernel_size,) * 2
    c_in, c_out, g = x[1], shapes[node.name][1], getattr(layer, "groups", 1)
    w = (c_in, c_out // g) + tuple(k) if node.kind == "ConvTranspose2d" else (c_out, c_in // g) + tuple(k)
    if any(type(v) is not int for v in w):
        return None
    obeys = all(a == b for a, b, n in zip(channels_last(w), contiguous(w), w) if n != 1)
    return 0 if obeys else prod(w)


# input-sized float tensors the backward formula makes beside the input's gradient (derivatives.yaml,
# measured: tests/test_memory_training_contract.py): rsqrt's -0.5 * grad * result.pow(3) two, ...
UNARY_BACKWARD = {"rsqrt": 2, "sqrt": 1, "square": 2, "abs": 1, "reciprocal": 2, "erf": 4, "sin": 1, "cos": 2}
# ScalarArith: (input-sized float tensors, input-sized bool masks): maximum's masked_fill of x >= value ...
SCALAR_BACKWARD = {"pow": (2, 0), "rpow": (1, 0), "maximum": (2, 2), "minimum": (2, 2)}


def _elementwise_backward(node, shapes, width, weight_grad: bool, input_grad: bool):
    """Temporaries of the one-input elementwise and reducing kinds' backward, or None for other kinds."""
    layer = node.layer
    if node.kind not in ("UnaryOp", "ScalarArith", "ParamArith", "LayerScale", "Normalize", "Reduce"):
        return None
    elems = prod(shapes[node.inputs[0]])
    out = prod(shapes[node.name])
    if node.kind == "UnaryOp":
        return UNARY_BACKWARD.get(layer.fn, 0) * elems * width if input_grad else 0
    if node.kind == "ScalarArith":
        floats, masks = SCALAR_BACKWARD.get(layer.op, (0, 0))
        return (floats * width + masks) * elems if input_grad else 0
    if node.kind in ("ParamArith", "LayerScale"):
        # a broadcast weight's gradient is grad * x, output-sized, before it is summed to the weight
        scales = node.kind == "LayerScale" or (layer.op == "mul" and layer.table is None and prod(layer.shape) != out)
        return out * width if weight_grad and scales else 0
    if node.kind == "Normalize":   # x / norm.clamp_min(eps).expand_as(x): three input-sized tensors in its backward
        return 3 * elems * width if input_grad else 0
    if layer.op in ("amax", "amin"):   # the mask x == result (one byte an element) and three result-sized tensors
        return elems + 3 * out * width if input_grad else 0
    if layer.op == "norm":             # x * (grad / norm) input-sized, and the mask norm == 0
        return elems * width + out if input_grad else 0
    return 0


def _backward_temporaries(node, shapes, width, weight_grad: bool, input_grad: bool, grads_for=()):
    """Bytes a layer's backward holds at its peak beyond its input and parameter gradients.

    Affine (AddcmulBackward, torch 2.14's derivatives.yaml; equal to the tracker on the cases of
    tests/test_memory.py, where the trainable ones peak in this backward): bias's
    gradient is the incoming one; weight's is grad * (x * value), two output-sized tensors, then x's
    grad * (weight * value) (the weight-sized product a temporary); only after all three does torch
    sum each to its operand's shape (validate_outputs), so weight's output-sized product lives until
    x's gradient exists. Output-sized gradients are not summed (and bias's is copied by the engine)."""
    extra = _elementwise_backward(node, shapes, width, weight_grad, input_grad)
    if extra is not None:
        return extra
    if node.kind == "Mul" and len(node.inputs) == 2:
        # MulBackward0 makes each needed gradient output-sized (grad * other) before the engine sums a
        # broadcast operand's to its shape: that product lives beside the other's (an SE gate's x * s)
        out = shapes_bytes(shapes, node.name, width)
        return sum(out for name in grads_for if tuple(shapes[name]) != tuple(shapes[node.name]))
    if node.kind == "PReLU":
        # _prelu_kernel_backward makes the input's and the (output-sized, then summed) weight's
        # gradient whichever is needed (measured, tests/test_memory_views.py): both at once
        # an unneeded input gradient is dropped before the weight's is summed
        out = shapes_bytes(shapes, node.name, width)
        return out if input_grad else 2 * out - (node.layer.num_parameters * width if weight_grad else 0)
    if node.kind != "Affine":
        return 0
    layer = node.layer
    out = shapes_bytes(shapes, node.name, width)
    w = prod(layer.shape) * width
    b = prod(layer.shape if layer.bias_shape is None else layer.bias_shape) * width
    x = shapes_bytes(shapes, node.inputs[0], width) if input_grad else 0
    xg = out if input_grad else 0                          # x's gradient before it is summed to x's shape
    sum_x = out + x if input_grad and x != out else 0      # that sum, beside what it is summed from
    if not weight_grad:  # frozen: weight * value, then x's gradient (no measured case peaks here)
        return max(w + xg, sum_x) - x if input_grad else 0
    peak = max(2 * out,                                            # x * value and grad * it
               out + w + xg,                                       # weight * value beside both products
               out + xg + (0 if b == out else b) + (0 if w == out else w),   # summing weight's
               w + b + (sum_x or x))                               # summing x's; then the engine copies
    return peak - (w + b + x)
