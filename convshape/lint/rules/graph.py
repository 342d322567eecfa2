"""CS220, CS222: graph-level warnings. Numbers that count something no output uses."""
from __future__ import annotations

from ..context import fmt_int
from ..registry import rule
from ..result import Finding


@rule("CS220", "unused-parameters", "warning")
def unused_parameters(ctx):
    """## What it does
    Flags the parameters a spec records under `unused_params`: parameters of modules that the
    model's forward never calls (an imported model's `conv_head` that the encoder skips, GoogLeNet's
    auxiliary heads in eval mode). They are in the parameter totals, as in `sum(p.numel())`.

    ## Why is this bad?
    They cost checkpoint size and optimizer memory but compute nothing: either the module is dead
    code, or forward forgets to call it.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3}
    unused_params: {conv_head: 412160}
    ```

    ## Use instead
    Delete the module (or call it):
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3}
    ```
    """
    source = ctx.network.source
    for module, params, *_counts in ctx.network.unused_params:
        line, col = source.where(("unused_params", module)) if source is not None else (1, 1)
        yield Finding(code="", file=ctx.network.file, line=line or 1, column=col or 1,
                      message=f"module '{module}' holds {fmt_int(params)} parameters that forward never reads: "
                              f"they count in the totals (as in sum(p.numel())) but compute nothing")


@rule("CS222", "unread-result", "warning")
def unread_result(ctx):
    """## What it does
    Flags a layer whose result no output of the network reads (directly or through other layers):
    a deep-supervision head left in, or a value computed and then overwritten.

    ## Why is this bad?
    Its MACs and activation memory are counted, since torch runs it, but it affects nothing the
    network returns. If it is an output, name it under `outputs`.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3}
      - ReLU: {}
        name: stem
      - Conv2d: {out_channels: 8, kernel_size: 1}
        name: aux
      - Conv2d: {out_channels: 16, kernel_size: 1}
        inputs: stem
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3}
      - ReLU: {}
        name: stem
      - Conv2d: {out_channels: 8, kernel_size: 1}
        name: aux
      - Conv2d: {out_channels: 16, kernel_size: 1}
        name: head
        inputs: stem
    outputs: [head, aux]
    ```
    """
    if ctx.failure is not None:
        return
    unread = set(ctx.report.unread)
    consumers = ctx.consumers
    for node, r in ctx.analyzed():
        # name the last unread layer of each dead branch, not every layer in it
        if node.name in unread and not any(c in unread for c in consumers.get(node.name, ())):
            yield ctx.at(node, f"the result of '{node.name}' ({node.kind}) is read by no output: its "
                               f"{fmt_int(r.macs)} MACs are counted, as torch runs it, but change nothing "
                               f"the network returns (name it under 'outputs' if it is one)")
