"""CS6xx: budgets. Limits a project sets (--max-params, the spec's lint: section or
[tool.convshape]); exceeding one is an error. A rule with no budget set finds nothing."""
from __future__ import annotations

from ...graph import INPUT
from ..context import by_axis, fmt_int
from ..registry import rule
from ..words import point


def _over(value, budget):
    """None when value <= budget; else '' (always over) or ' when <condition>' for a symbolic value."""
    if type(value) is int:
        return "" if value > budget else None
    import sympy as sp
    rel = sp.Gt(value, budget)
    if rel is sp.true:
        return ""
    if rel is sp.false:
        return None
    return f" when {rel}"


def _largest(ctx, field: str):
    best = None
    for r in ctx.report.layers:
        v = getattr(r, field)
        if type(v) is int and (best is None or v > getattr(best, field)):
            best = r
    return best


def _budget_finding(ctx, budget_name: str, value, budget, what: str, field: str, unit: str = ""):
    if budget is None or ctx.failure is not None:
        return
    over = _over(value, budget)
    if over is None:
        return
    top = _largest(ctx, field)
    biggest = (f" The largest is '{top.name}' ({top.type}) with {fmt_int(getattr(top, field))}{unit}."
               if top is not None else "")
    yield ctx.at_network(f"the network has {fmt_int(value)}{unit} {what}, over the {budget_name} budget of "
                         f"{fmt_int(budget)}{unit}{over}.{biggest}", budget=budget_name)


@rule("CS601", "max-params", "error")
def max_params(ctx):
    """## What it does
    Reports a network with more parameters than the `max-params` budget.

    ## Why is this bad?
    A parameter budget keeps a model within what the target device can store and what the data
    can fit; a change that silently doubles the model should fail review, not surprise deployment.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    lint: {max-params: 1000}
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, bias: false}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    lint: {max-params: 1000}
    layers:
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1, bias: false}
    ```
    """
    yield from _budget_finding(ctx, "max-params", ctx.report.totals.params, ctx.budgets.max_params,
                               "parameters", "params")


@rule("CS602", "max-macs", "error")
def max_macs(ctx):
    """## What it does
    Reports a network whose multiply-accumulates for one forward pass exceed the `max-macs`
    budget. For a symbolic input it says for which sizes.

    ## Why is this bad?
    MACs set latency and energy per inference; a budget keeps a model within its device.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    lint: {max-macs: 1000000}
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, bias: false}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    lint: {max-macs: 1000000}
    layers:
      - Conv2d: {out_channels: 32, kernel_size: 3, stride: 2, padding: 1, bias: false}
    ```
    """
    yield from _budget_finding(ctx, "max-macs", ctx.report.totals.macs, ctx.budgets.max_macs, "MACs", "macs")


@rule("CS603", "max-activation-bytes", "error")
def max_activation_bytes(ctx):
    """## What it does
    Reports a network whose activations (all layer outputs, at the linted dtype) take more bytes
    than the `max-activation-bytes` budget. For a symbolic input it says for which sizes.

    ## Why is this bad?
    Training keeps every activation for the backward pass; their total bounds the batch size
    that fits in accelerator memory.

    ## Example
    ```yaml
    input: [1, 3, 64, 64]
    lint: {max-activation-bytes: 1MiB}
    layers:
      - Conv2d: {out_channels: 128, kernel_size: 3, padding: 1, bias: false}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 64, 64]
    lint: {max-activation-bytes: 1MiB}
    layers:
      - Conv2d: {out_channels: 128, kernel_size: 4, stride: 4, bias: false}
    ```
    """
    yield from _budget_finding(ctx, "max-activation-bytes", ctx.report.totals.activation_bytes,
                               ctx.budgets.max_activation_bytes, "bytes of activations", "activation_bytes")


def features_rf(ctx, output: str):
    """(layer name, receptive field) of the last tensor on the way to `output` whose receptive field
    is still local (before global pooling, Flatten + Linear, ...), or None."""
    node = ctx.network.node(output)
    while node is not None:
        rf = ctx.rf_of(node.name)
        if rf is not None and not rf.is_global and rf.size:
            return node.name, rf
        if node.inputs[0] not in ctx.network.index:  # a network input
            return None
        node = ctx.network.node(node.inputs[0])
    return None


@rule("CS604", "min-receptive-field", "error")
def min_receptive_field(ctx):
    """## What it does
    Reports a network whose features (the last layer before global pooling or flattening, or the
    output of a dense model; for each of several outputs) see fewer input pixels on some axis than
    the `min-receptive-field` budget.

    ## Why is this bad?
    A detector or segmenter whose receptive field is smaller than the objects it must recognise
    cannot see them whole; the budget states that requirement where a review will check it.

    ## Example
    ```yaml
    input: [1, 3, 64, 64]
    lint: {min-receptive-field: 32}
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 64, 64]
    lint: {min-receptive-field: 32}
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1, dilation: 16}
    ```
    """
    budget = ctx.budgets.min_receptive_field
    if budget is None or ctx.failure is not None:
        return
    features = dict(f for f in (features_rf(ctx, o) for o in ctx.network.output_names) if f is not None)
    for name, rf in features.items():  # each output's features (a detector's every level)
        if all(type(s) is int and s >= budget for s in rf.size):
            continue
        yield ctx.at_network(f"the receptive field of '{name}' is {by_axis(rf.size)} input {point(len(rf.size))}, "
                             f"below the min-receptive-field budget of {budget}: its features cannot see objects "
                             f"larger than that.", budget="min-receptive-field")


@rule("CS605", "max-train-memory", "error")
def max_train_memory(ctx):
    """## What it does
    Reports a network whose peak memory in one training step exceeds the `max-train-memory`
    budget: parameters, buffers, what autograd saves for backward, the gradients in flight and the
    parameter gradients, with plain SGD (no optimizer state: the least any optimizer needs), at
    the linted dtype and input (docs/memory.md). Checked at a concrete input only.

    ## Why is this bad?
    Training keeps far more than inference: a change that makes a batch stop fitting on the
    training device should fail review, not the first training run.

    ## Example
    ```yaml
    input: [8, 3, 64, 64]
    lint: {max-train-memory: 4MiB}
    layers:
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
    ```

    ## Use instead
    ```yaml
    input: [8, 3, 64, 64]
    lint: {max-train-memory: 4MiB}
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 4, stride: 4}
      - ReLU
    ```
    """
    budget = ctx.budgets.max_train_memory
    if budget is None or ctx.failure is not None or ctx.report.symbols:
        return
    from ...memory.training import training_step
    step = training_step(ctx.network, ctx.report, "sgd")
    if step.peak_bytes <= budget:
        return
    at = f", at '{step.layer}'" if step.layer else ""
    yield ctx.at_network(f"one training step with SGD peaks at {fmt_int(step.peak_bytes)} bytes (in the "
                         f"{step.phase}{at}), over the max-train-memory budget of {fmt_int(budget)}; "
                         f"{fmt_int(step.saved_bytes)} of it is saved for backward.", budget="max-train-memory")
