"""Generated one-token source mutants of any module: the classic mutation operators, found
by walking the module's AST, each one a single-line text edit.

Where harness/mutants.py holds hand-written, plausible kernel mistakes (measured against the
property search), these are mechanical: every comparison, boolean operator, `not`, constant,
arithmetic or bit operator, returned value and side-effect statement of a module, changed one
at a time. They measure something else: whether the test suite notices when the model
changes (`gupharness srcmut`, harness/srcmut.py).

A generated mutant is named `src:PATH:LINE:COL:OP` (PATH relative to the project root, LINE
1-based, COL the 0-based byte offset of the edit in that line, as the AST counts it), and
GUPHARNESS_MUTANT may name one: harness/mutate.py's import hook applies it like a hand-written
one. The edit never changes the line count, so tracebacks keep the real line numbers.

Not mutated: docstrings, comments, type annotations, imports, `assert` (the model's
self-checks), f-strings, trace calls (`k.trace(...)`, `x.trace.depth`), and functions that
only build text (`__repr__`, `__str__`, anything annotated `-> str`).

This module only depends on the standard library: the import hook runs it before the model
is imported.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "src:"


class SourceMutantError(Exception):
    """A bad file or mutant name: reported as one line."""


@dataclass(frozen=True)
class SourceMutant:
    """Replace `old` by `new` at byte column `col` of line `line` of `path`."""

    path: str
    line: int
    col: int
    op: str
    old: str
    new: str

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.path}:{self.line}:{self.col}:{self.op}"

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")

    @property
    def why(self) -> str:
        return f"{self.op}: {self.old!r} -> {self.new!r}"

    @property
    def file(self) -> Path:
        return ROOT / self.path

    def patch(self, source: str) -> str:
        """The source with this one edit; SourceMutantError if the line no longer holds `old`."""
        lines = source.split("\n")
        if not 1 <= self.line <= len(lines):
            raise SourceMutantError(f"mutant {self.name}: {self.path} has no line {self.line}")
        raw = lines[self.line - 1].encode()
        old = self.old.encode()
        if raw[self.col:self.col + len(old)] != old:
            raise SourceMutantError(f"mutant {self.name}: line {self.line} of {self.path} no longer holds "
                                    f"{self.old!r} at column {self.col}")
        lines[self.line - 1] = (raw[:self.col] + self.new.encode() + raw[self.col + len(old):]).decode()
        return "\n".join(lines)

    def check(self) -> None:
        self.patch(self.file.read_text())

    def diff(self) -> str:
        before = self.file.read_text().split("\n")[self.line - 1]
        after = self.patch(self.file.read_text()).split("\n")[self.line - 1]
        return f"--- {self.path}:{self.line}\n-{before}\n+{after}\n"


# -- the operators ---------------------------------------------------------------------------

#: comparison operator -> (pattern of its spelling in the source, the replacement, operator name)
_COMPARE: dict[type, tuple[str, str, str]] = {
    ast.Eq: (r"==", "!=", "Eq-NotEq"),
    ast.NotEq: (r"!=", "==", "NotEq-Eq"),
    ast.Lt: (r"<(?!=)", "<=", "Lt-LtE"),
    ast.LtE: (r"<=", "<", "LtE-Lt"),
    ast.Gt: (r"(?<![-=])>(?!=)", ">=", "Gt-GtE"),
    ast.GtE: (r">=", ">", "GtE-Gt"),
    ast.In: (r"\bin\b", "not in", "In-NotIn"),
    ast.NotIn: (r"\bnot\s+in\b", "in", "NotIn-In"),
    ast.Is: (r"\bis\b", "is not", "Is-IsNot"),
    ast.IsNot: (r"\bis\s+not\b", "is", "IsNot-Is"),
}
_BOOL: dict[type, tuple[str, str, str]] = {
    ast.And: (r"\band\b", "or", "And-Or"),
    ast.Or: (r"\bor\b", "and", "Or-And"),
}
_BINARY: dict[type, tuple[str, str, str]] = {
    ast.Add: (r"\+", "-", "Add-Sub"),
    ast.Sub: (r"-", "+", "Sub-Add"),
    ast.BitAnd: (r"&", "|", "BitAnd-BitOr"),
    ast.BitOr: (r"\|", "&", "BitOr-BitAnd"),
}
_AUGMENTED: dict[type, tuple[str, str, str]] = {
    ast.Add: (r"\+=", "-=", "AugAdd-Sub"),
    ast.Sub: (r"-=", "+=", "AugSub-Add"),
    ast.BitAnd: (r"&=", "|=", "AugBitAnd-BitOr"),
    ast.BitOr: (r"\|=", "&=", "AugBitOr-BitAnd"),
}
#: statements whose deletion (-> `pass`) removes a side effect without breaking the syntax
_DELETABLE = (ast.Expr, ast.AugAssign, ast.Assign, ast.Delete, ast.Raise, ast.Continue, ast.Break)


class _Enumerator:
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.lines = [row.encode() for row in source.split("\n")]
        self.found: dict[str, SourceMutant] = {}

    def add(self, line: int, col: int, op: str, old: str, new: str) -> None:
        mutant = SourceMutant(self.path, line, col, op, old, new)
        self.found.setdefault(mutant.name, mutant)

    def segment(self, node: ast.AST) -> str | None:
        """The node's text, if it sits on one line."""
        if node.lineno != node.end_lineno:  # type: ignore[attr-defined]
            return None
        row = self.lines[node.lineno - 1]  # type: ignore[attr-defined]
        return row[node.col_offset:node.end_col_offset].decode()  # type: ignore[attr-defined]

    def between(self, left: ast.AST, right: ast.AST, pattern: str, new: str, op: str) -> None:
        """The operator between two operands: found in the gap (parentheses, comments and line
        breaks aside), mutated only if its spelling occurs there exactly once."""
        start = (left.end_lineno, left.end_col_offset)  # type: ignore[attr-defined]
        end = (right.lineno, right.col_offset)  # type: ignore[attr-defined]
        hits: list[tuple[int, int, str]] = []
        for line in range(start[0], end[0] + 1):
            row = self.lines[line - 1]
            lo = start[1] if line == start[0] else 0
            hi = end[1] if line == end[0] else len(row)
            text = row[lo:hi].decode().split("#", 1)[0]
            hits += [(line, lo + len(text[:m.start()].encode()), m.group()) for m in re.finditer(pattern, text)]
        if len(hits) == 1:
            line, col, old = hits[0]
            self.add(line, col, op, old, new)

    def visit(self, node: ast.AST) -> None:
        if _skipped(node):
            return
        self.mutate(node)
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "type_comment", "decorator_list"):
                continue
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, ast.AST):
                    self.visit(child)

    def mutate(self, node: ast.AST) -> None:
        if isinstance(node, ast.Compare):
            lefts = [node.left, *node.comparators[:-1]]
            for op, left, right in zip(node.ops, lefts, node.comparators):
                self.between(left, right, *_COMPARE[type(op)])
        elif isinstance(node, ast.BoolOp):
            for left, right in zip(node.values, node.values[1:]):
                self.between(left, right, *_BOOL[type(node.op)])
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            self.between(node.left, node.right, *_BINARY[type(node.op)])
        elif isinstance(node, ast.AugAssign) and type(node.op) in _AUGMENTED:
            self.between(node.target, node.value, *_AUGMENTED[type(node.op)])
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            row = self.lines[node.lineno - 1]
            if node.operand.lineno == node.lineno:
                keyword = re.match(rb"not\s*", row[node.col_offset:node.operand.col_offset])
                if keyword:
                    self.add(node.lineno, node.col_offset, "Not-drop", keyword.group().decode(), "")
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            text = self.segment(node)
            if text in ("True", "False"):
                self.add(node.lineno, node.col_offset, "True-False" if node.value else "False-True",
                         text, str(not node.value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, int):
            text = self.segment(node)
            if text is not None:
                spell = hex if text.lower().startswith("0x") else str
                self.add(node.lineno, node.col_offset, "Int+1", text, spell(node.value + 1))
                if node.value > 0:
                    self.add(node.lineno, node.col_offset, "Int-1", text, spell(node.value - 1))
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value in (None, True, False)):
            text = self.segment(node.value)
            if text is not None:
                self.add(node.value.lineno, node.value.col_offset, "Return-None", text, "None")
        if isinstance(node, _DELETABLE) and _side_effect(node):
            text = self.segment(node)
            if text is not None:
                self.add(node.lineno, node.col_offset, "Stmt-pass", text, "pass")


def _attribute_chain(node: ast.AST) -> list[str]:
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return names + [node.id] if isinstance(node, ast.Name) else names


def _skipped(node: ast.AST) -> bool:
    """Code whose mutation says nothing about the model's behaviour (see the module docstring)."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Assert, ast.JoinedStr, ast.Global, ast.Nonlocal)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return True  # a docstring or a bare string
    if isinstance(node, ast.Call) and "trace" in _attribute_chain(node.func):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _skipped(node.value):
        return True  # a trace call as a statement: deleting it changes only the trace
    if isinstance(node, ast.AugAssign) and "trace" in _attribute_chain(node.target):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        text_only = isinstance(node.returns, ast.Name) and node.returns.id == "str" or (
            isinstance(node.returns, ast.Constant) and node.returns.value == "str")
        return text_only or node.name in ("__repr__", "__str__")
    if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
        return True
    return False


def _side_effect(node: ast.stmt) -> bool:
    """Statements worth deleting: calls, in-place updates, stores into objects, raise, loop
    control. A plain `name = value` is not: deleting it is a NameError, not a behaviour change."""
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Call)
    if isinstance(node, ast.Assign):
        return all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets)
    return True


def relative(file: str | Path) -> str:
    """FILE as a path relative to the project root; SourceMutantError unless it is a Python
    file inside the project."""
    path = Path(file)
    resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not resolved.is_file():
        raise SourceMutantError(f"{file}: no such file")
    if resolved.suffix != ".py":
        raise SourceMutantError(f"{file}: not a Python file")
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        raise SourceMutantError(f"{file}: not inside the project ({ROOT})") from None


def enumerate_mutants(file: str | Path) -> list[SourceMutant]:
    """Every generated mutant of FILE, in source order."""
    path = relative(file)
    source = (ROOT / path).read_text()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise SourceMutantError(f"{file}: does not parse: {exc.msg} (line {exc.lineno})") from None
    walker = _Enumerator(path, source)
    walker.visit(tree)
    return sorted(walker.found.values(), key=lambda m: (m.line, m.col, m.op))


def get_source_mutant(name: str) -> SourceMutant:
    """The generated mutant called NAME (`src:PATH:LINE:COL:OP`)."""
    match = re.fullmatch(r"src:(.+\.py):(\d+):(\d+):(\S+)", name)
    if not match:
        raise SourceMutantError(f"bad source mutant name {name!r} (expected src:PATH:LINE:COL:OP)")
    for mutant in enumerate_mutants(ROOT / match.group(1)):
        if mutant.name == name:
            return mutant
    raise SourceMutantError(f"no source mutant {name!r} in today's {match.group(1)} "
                            f"(see `gupharness srcmut {match.group(1)} --list`)")
