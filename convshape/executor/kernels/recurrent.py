"""The LSTM from its recurrence, in torch's gate order i, f, g, o (torch.nn.LSTM's documentation):

    i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      sigma on i, f, o; tanh on g
    c_t = f * c_{t-1} + i * g        h_t = o * tanh(c_t), then W_hr h_t when proj_size > 0

from zero states, layer by layer (a layer reads the previous one's outputs, both directions side by
side); the reverse direction runs the sequence backwards and its outputs are put back in order.
Dropout between layers is the identity at inference.
"""
from __future__ import annotations

import torch

from . import reference
from .common import opmath


def _sigmoid(x):
    return 1 / (1 + torch.exp(-x))


def _direction(x, state, suffix: str, hidden: int, reverse: bool):
    """One layer, one direction over x (L, N, I): the outputs (L, N, P)."""
    w_ih, w_hh = opmath(state["weight_ih" + suffix]), opmath(state["weight_hh" + suffix])
    w_hr = state.get("weight_hr" + suffix)
    gates_x = x @ w_ih.t()                                     # every step's input term in one GEMM
    if state.get("bias_ih" + suffix) is not None:
        gates_x = gates_x + opmath(state["bias_ih" + suffix]) + opmath(state["bias_hh" + suffix])
    steps, batch = x.shape[:2]
    h = x.new_zeros(batch, w_hh.shape[1])
    c = x.new_zeros(batch, hidden)
    out = [None] * steps
    for t in (reversed(range(steps)) if reverse else range(steps)):
        gates = gates_x[t] + h @ w_hh.t()
        i, f, g, o = gates.split(hidden, dim=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * torch.tanh(g)
        h = _sigmoid(o) * torch.tanh(c)
        if w_hr is not None:
            h = h @ opmath(w_hr).t()
        out[t] = h
    return torch.stack(out) if steps else x.new_zeros(0, batch, h.shape[-1])


@reference("LSTM")
def lstm(layer, xs, state):
    """(L, N, I), (N, L, I) with batch_first, or unbatched (L, I) -> the output sequence, D x P features."""
    x = opmath(xs[0])
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(1)
    elif layer.batch_first:
        x = x.transpose(0, 1)
    for k in range(layer.num_layers):
        outs = [_direction(x, state, f"_l{k}" + ("_reverse" if d else ""), layer.hidden_size, reverse=bool(d))
                for d in range(2 if layer.bidirectional else 1)]
        x = torch.cat(outs, dim=-1)
    if unbatched:
        x = x.squeeze(1)
    elif layer.batch_first:
        x = x.transpose(0, 1)
    return x.to(xs[0].dtype)
