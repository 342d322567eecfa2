"""Memory before it runs: the inference peak, what autograd saves for backward (rules per layer
kind), from the analysed shapes; docs/memory.md."""
from . import algebra_rules, corpus_rules, window_rules  # noqa: F401  (register the other modules' rules)
from .estimate import Memory, estimate_memory, saved_for_backward
from .rules import SAVED, Grads, Saved, output_alias
from .schedule import last_uses, live_peak

__all__ = ["Memory", "estimate_memory", "saved_for_backward", "SAVED", "Grads", "Saved", "output_alias",
           "last_uses", "live_peak"]
