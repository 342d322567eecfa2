"""One exception family: every error convshape raises derives from ConvshapeError."""
from __future__ import annotations


class ConvshapeError(Exception):
    """Base of every convshape error; `str(err)` is one line, fit for a terminal."""

    exit_code = 2


def one_line(text: str) -> str:
    """Escape line breaks and other control characters (from file names, values, parser messages)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class SpecError(ConvshapeError):
    """The spec file (or a command-line value) is malformed: exit code 2.

    Carries the file, 1-based line and column, the field path inside the document, and an
    optional note on where it was reached from (e.g. the block instance being expanded).
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, field: str | None = None, note: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.note = note
        super().__init__(self.format())

    def format(self) -> str:
        where = self.file or ("<spec>" if self.line is not None else "")
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" [{self.field}]" if self.field else ""
        note = f" ({self.note})" if self.note else ""
        # an error about an option or a name, with no file behind it, is the message alone
        head = f"{where}:{field} " if where else (f"[{self.field}] " if self.field else "")
        return one_line(f"{head}{self.message}{note}")

    def located(self, *, file=None, line=None, column=None, field=None) -> "SpecError":
        """Fill in location details that are still missing (context is added once, at the boundary)."""
        return SpecError(self.message, file=self.file or file,
                         line=self.line if self.line is not None else line,
                         column=self.column if self.column is not None else column,
                         field=self.field or field, note=self.note)

    def noted(self, note: str) -> "SpecError":
        """Add a note unless one is there already (the innermost context is the most precise)."""
        if self.note:
            return self
        return SpecError(self.message, file=self.file, line=self.line, column=self.column,
                         field=self.field, note=note)


class ShapeError(ConvshapeError):
    """The network is invalid for this input: exit code 1.

    Names the layer, its input shape(s), the offending argument and the value received.
    """

    exit_code = 1

    def __init__(self, message: str, *, layer: str | None = None, kind: str | None = None,
                 input_shapes=None, argument: str | None = None, value=None,
                 location: str | None = None):
        self.message = message
        self.layer = layer
        self.kind = kind
        self.input_shapes = input_shapes
        self.argument = argument
        self.value = value
        self.location = location
        super().__init__(self.format())

    def format(self) -> str:
        head = ""
        if self.location:
            head += f"{self.location}: "
        if self.layer:
            head += f"layer '{self.layer}'"
            if self.kind:
                head += f" ({self.kind})"
            if self.input_shapes is not None:
                shapes = ", ".join(_shape_str(s) for s in self.input_shapes)
                head += f" with input {shapes}"
            head += ": "
        tail = ""
        if self.argument not in (None, "input", "inputs") and self.value is not None and self.argument not in self.message:
            tail = f" [{self.argument}={_value_str(self.value)}]"  # the argument to change, as written
        return one_line(head + self.message + tail)

    def in_layer(self, *, layer, kind, input_shapes, location=None) -> "ShapeError":
        return ShapeError(self.message, layer=self.layer or layer, kind=self.kind or kind,
                          input_shapes=self.input_shapes if self.input_shapes is not None else input_shapes,
                          argument=self.argument, value=self.value,
                          location=self.location or location)


class SizeDependentError(ShapeError):
    """A dim that sets a parameter count (in_features, in_channels) is symbolic: not a contradiction,
    since every concrete size builds its own layer, but not analyzable as one expression either."""

    def in_layer(self, *, layer, kind, input_shapes, location=None) -> "SizeDependentError":
        return SizeDependentError(self.message, layer=self.layer or layer, kind=self.kind or kind,
                                  input_shapes=self.input_shapes if self.input_shapes is not None else input_shapes,
                                  argument=self.argument, value=self.value, location=self.location or location)


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _value_str(value) -> str:
    if isinstance(value, (list, tuple)):
        return _shape_str(value)
    return str(value)


class ConventionError(ConvshapeError):
    """Another tool's figure (`--convention`) cannot be given exactly: the kind or case is named. Exit 1."""

    exit_code = 1
