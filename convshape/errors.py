"""One exception family: every error convshape raises derives from ConvshapeError."""
from __future__ import annotations


class ConvshapeError(Exception):
    """Base of every convshape error; `str(err)` is one line, fit for a terminal."""

    exit_code = 2


class SpecError(ConvshapeError):
    """The spec file (or a command-line value) is malformed: exit code 2.

    Carries the file, 1-based line and column, and the field path inside the document.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, field: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        super().__init__(self.format())

    def format(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}:{field} {self.message}"

    def located(self, *, file=None, line=None, column=None, field=None) -> "SpecError":
        """Fill in location details that are still missing (context is added once, at the boundary)."""
        return SpecError(self.message, file=self.file or file,
                         line=self.line if self.line is not None else line,
                         column=self.column if self.column is not None else column,
                         field=self.field or field)


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
        return head + self.message

    def in_layer(self, *, layer, kind, input_shapes, location=None) -> "ShapeError":
        return ShapeError(self.message, layer=self.layer or layer, kind=self.kind or kind,
                          input_shapes=self.input_shapes if self.input_shapes is not None else input_shapes,
                          argument=self.argument, value=self.value,
                          location=self.location or location)


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
