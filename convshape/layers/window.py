"""Sliding-window arithmetic shared by convolution and pooling (one helper, as in Keras).

Formulas are torch's: Conv docs (`floor((L + 2p - d(k-1) - 1)/s) + 1`) and ATen's
`pooling_output_shape` for ceil_mode (the last window must start inside the input or the
left padding).
"""
from __future__ import annotations

from ..dims import ceildiv, floordiv, require_ge


def window_output(length, kernel: int, stride: int, pad_left: int, pad_right: int, dilation: int = 1,
                  ceil_mode: bool = False, axis: int = 0, what: str = "kernel"):
    """Output length of a sliding window; records/raises the condition that it is >= 1."""
    span = dilation * (kernel - 1) + 1
    padded = length + pad_left + pad_right
    def message(tail="the output would be empty"):
        return (f"padded input size {_fmt(padded)} on spatial axis {axis} is smaller than the "
                f"{'dilated ' if dilation > 1 else ''}{what} ({span}): {tail}")

    if not ceil_mode:
        require_ge(padded, span, message, argument="kernel_size", received=kernel)
        return floordiv(padded - span, stride) + 1
    out = ceildiv(padded - span, stride) + 1
    # torch: drop the last window if it would start in the right padding
    if type(out) is int and type(length) is int:
        if (out - 1) * stride >= length + pad_left:
            out -= 1
    elif stride > span - pad_right:
        # same rule in closed form: the last window starts at (out-1)*stride < length + pad_left.
        # (a Piecewise here makes sympy fold nested conditions and blow up on stacked ceil-mode pools)
        # Only needed when stride > span - pad_right: otherwise (out-1)*stride <= padded - span + stride - 1
        # < length + pad_left always, and skipping the Min keeps stacked pools' sizes small.
        from ..dims import dmin
        out = dmin(out, floordiv(length + pad_left - 1, stride) + 1)
    # ceil mode can keep one partial window even when the padded input is shorter than the kernel
    require_ge(out, 1, lambda: message(f"output size {_fmt(out)}"), argument="kernel_size", received=kernel)
    return out


def dropped_tail(length, kernel: int, stride: int, pad_left: int, pad_right: int, dilation: int = 1):
    """Input positions (incl. padding) after the last window that no window reads (floor mode)."""
    span = dilation * (kernel - 1) + 1
    padded = length + pad_left + pad_right
    return (padded - span) % stride if type(padded) is int else (padded - span) - stride * floordiv(padded - span, stride)


def transposed_output(length, kernel: int, stride: int, padding: int, output_padding: int, dilation: int = 1):
    """ConvTranspose output length: (L-1)s - 2p + d(k-1) + output_padding + 1."""
    return (length - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _fmt(x):
    return x if type(x) is int else str(x)
