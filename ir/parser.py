"""The IR text parser: a hand-written tokenizer and recursive-descent parser.

It reads what :func:`ir.printer.to_text` writes (docs/IR.md has the grammar) and builds the graph
through ``Graph.add_input / add_node / set_outputs``, so every node is checked by its op's type
rule as it is read::

    >>> import ir
    >>> g = ir.parse('''
    ... func @f(%x: f32[2,3]) -> (f32[3,2]) {
    ...   %0: f32[3,2] = transpose %x {perm=[1,0]}  // comments run to the end of the line
    ...   return %0
    ... }''')
    >>> g.nodes[0].attrs
    {'perm': [1, 0]}

Every problem raises :class:`ir.errors.ParseError` pointing at the offending token::

    >>> ir.parse('func @f(%x: f32[2]) -> (f32[2]) {\\n  %0: f32[2] = sigmoidd %x\\n  return %0\\n}')
    Traceback (most recent call last):
    ...
    ir.errors.ParseError: <string>:2:16: error: unknown op 'sigmoidd'; did you mean 'sigmoid'?
      %0: f32[2] = sigmoidd %x
                   ^
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Optional

from ir import registry
from ir.dtypes import BY_NAME as DTYPES
from ir.errors import ParseError, ShapeError
from ir.graph import Graph, Node, SourceLoc, Value
from ir.plan import MemoryPlan, Placement
from ir.types import TensorType
from ir.verify import IDENTIFIER, attr_value_error

# One alternative per token kind; strings are scanned by hand (escapes, precise errors).
# `-inf`, `inf` and `nan` are numbers, but only as whole words (`info` is an identifier).
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<number>-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|(?:inf|nan)(?![A-Za-z0-9_.])))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<value>%(?:[A-Za-z_][A-Za-z0-9_.]*|\d+))
  | (?P<symbol>@)
  | (?P<string>")
  | (?P<punct>->|[(){}\[\],:=])
""", re.VERBOSE)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# How deep attribute lists may nest: a const of NumPy's maximum rank (64) needs 64 levels.
MAX_NESTING = 64
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


@dataclass(frozen=True)
class Token:
    kind: str  # ident, value, symbol, number, string, punct, eof
    text: str  # the source text (for strings and symbols: the decoded contents)
    line: int
    column: int


class _Lexer:
    """Turns text into tokens on demand, so errors come out in file order."""

    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self.lines = [line.rstrip("\r") for line in text.split("\n")]
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def error(self, message: str, line: int, column: int) -> ParseError:
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return ParseError(message, line, column, source, self.filename)

    def next_token(self) -> Token:
        while True:
            if self.pos >= len(self.text):
                return self._eof()
            column = self.pos - self.line_start + 1
            match = _TOKEN.match(self.text, self.pos)
            if match is None:
                char = self.text[self.pos]
                raise self.error(f"unexpected character {char!r}", self.line, column)
            kind, text = match.lastgroup or "", match.group()
            if kind in ("space", "comment"):
                self._advance(match.end())
                continue
            if kind == "string":
                return Token("string", self._string(column), self.line, column)
            if kind == "symbol":
                return Token("symbol", self._symbol(column), self.line, column)
            self.pos = match.end()
            return Token(kind, text, self.line, column)

    def _advance(self, end: int) -> None:
        newlines = self.text.count("\n", self.pos, end)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rindex("\n", self.pos, end) + 1
        self.pos = end

    def _eof(self) -> Token:
        # Point just after the last real character, not at an empty line after the text.
        end = len(self.text.rstrip())
        line = self.text.count("\n", 0, end) + 1
        column = end - (self.text.rfind("\n", 0, end) + 1) + 1
        return Token("eof", "", line, column)

    def _symbol(self, column: int) -> str:
        """``@name`` or ``@"any text"``; returns the name."""
        self.pos += 1
        if self.text.startswith('"', self.pos):
            return self._string(column + 1)
        found = _NAME.match(self.text, self.pos)
        if not found:
            raise self.error("expected a function name after '@'", self.line, column)
        self.pos = found.end()
        return found.group()

    def _string(self, column: int) -> str:
        """Scans a double-quoted literal starting at ``self.pos``; returns its decoded text."""
        out: list[str] = []
        i = self.pos + 1
        while True:
            if i >= len(self.text) or self.text[i] == "\n":
                raise self.error("unterminated string literal", self.line, column)
            char = self.text[i]
            if char == '"':
                self.pos = i + 1
                return "".join(out)
            if char != "\\":
                out.append(char)
                i += 1
                continue
            escape = self.text[i + 1:i + 2]
            here = i - self.line_start + 1
            if escape in _ESCAPES:
                out.append(_ESCAPES[escape])
                i += 2
            elif escape in _HEX_ESCAPES:
                digits = self.text[i + 2:i + 2 + _HEX_ESCAPES[escape]]
                if len(digits) != _HEX_ESCAPES[escape] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                    raise self.error(f"escape \\{escape} needs {_HEX_ESCAPES[escape]} hex digits",
                                     self.line, here)
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:  # no character, or a surrogate
                    raise self.error(f"escape \\{escape}{digits} is not a character",
                                     self.line, here)
                out.append(chr(int(digits, 16)))
                i += 2 + len(digits)
            else:
                raise self.error(f"unknown escape sequence '\\{escape}' in string", self.line, here)


def parse(text: str, filename: str = "<string>") -> Graph:
    """Parses the text of one ``func`` into a :class:`Graph`; raises :class:`ParseError`.

    A leading UTF-8 byte-order mark (which some Windows editors write) is skipped: it is not
    part of the text, and columns count from after it, as editors show them.
    """
    return _Parser(text.removeprefix("\ufeff"), filename).parse_func()


def _describe(token: Token) -> str:
    if token.kind == "eof":
        return "end of input"
    if token.kind == "string":
        return "a string"
    if token.kind == "symbol":
        return f"'@{token.text}'"
    return f"'{token.text}'"


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


class _Parser:
    def __init__(self, text: str, filename: str):
        self.lexer = _Lexer(text, filename)
        self.lookahead: list[Token] = []
        # Value name (without %) -> (value, token of its definition), for lookups and redefinitions.
        # Each body has its own scope; the enclosing ones wait in ``outer_scopes``.
        self.values: dict[str, tuple[Value, Token]] = {}
        self.outer_scopes: list[dict[str, tuple[Value, Token]]] = []

    # -- token helpers ---------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        while len(self.lookahead) <= k:
            self.lookahead.append(self.lexer.next_token())
        return self.lookahead[k]

    def take(self) -> Token:
        token = self.peek()
        self.lookahead.pop(0)
        return token

    def at(self, kind: str, text: Optional[str] = None, k: int = 0) -> bool:
        token = self.peek(k)
        return token.kind == kind and (text is None or token.text == text)

    def error(self, message: str, token: Token) -> ParseError:
        return self.lexer.error(message, token.line, token.column)

    def expect(self, kind: str, text: Optional[str] = None, what: Optional[str] = None) -> Token:
        if self.at(kind, text):
            return self.take()
        token = self.peek()
        what = what or f"'{text}'"
        if token.kind == "eof":
            raise self.error(f"unexpected end of input, expected {what}", token)
        raise self.error(f"expected {what}, got {_describe(token)}", token)

    # -- grammar -----------------------------------------------------------------------------
    def parse_func(self) -> Graph:
        """func := 'func' '@'name '(' params ')' '->' '(' results ')' '{' node* return '}'"""
        self.expect("ident", "func", "'func'")
        graph = Graph(self.expect("symbol", what="a function name '@name'").text)
        self.expect("punct", "(")
        if not self.at("punct", ")"):
            self.parse_param(graph)
            while self.at("punct", ","):
                self.take()
                self.parse_param(graph)
        self.expect("punct", ")", "',' or ')'")
        self.expect("punct", "->")
        self.expect("punct", "(")
        result_types: list[TensorType] = []
        aliases: dict[int, int] = {}
        if not self.at("punct", ")"):
            self.parse_result(graph, result_types, aliases)
            while self.at("punct", ","):
                self.take()
                self.parse_result(graph, result_types, aliases)
        self.expect("punct", ")", "',' or ')'")
        if self.at("ident", "plan"):
            graph.plan = self.parse_plan_header()
        self.expect("punct", "{")
        self.parse_nodes(graph, "return")
        self.parse_return(graph, result_types)
        graph.output_aliases = aliases
        self.expect("punct", "}", "'}'")
        if not self.at("eof"):
            raise self.error(f"expected end of input after the function (one func per text), "
                             f"got {_describe(self.peek())}", self.peek())
        return graph

    def parse_result(self, graph: Graph, types: list[TensorType], aliases: dict[int, int]) -> None:
        """result := type ['aliases' %input]: an output that overwrites an input's state."""
        declared, type_token = self.parse_type()
        types.append(declared)
        if not self.at("ident", "aliases"):
            return
        self.take()
        token = self.expect("value", what="an input '%name' after 'aliases'")
        index = next((i for i, v in enumerate(graph.inputs) if v.name == token.text[1:]), None)
        if index is None:
            raise self.error(f"'aliases' names {token.text}, which is not an input of "
                             f"@{graph.name}", token)
        if index in aliases.values():
            other = next(k for k, v in aliases.items() if v == index)
            raise self.error(f"input {token.text} is already aliased by result {other}; an "
                             "input can be overwritten by one result only", token)
        if graph.inputs[index].type != declared:
            raise self.error(f"result {len(types) - 1} has type {declared}, but the input it "
                             f"aliases, {token.text}, has type {graph.inputs[index].type}",
                             type_token)
        aliases[len(types) - 1] = index

    def parse_nodes(self, graph: Graph, terminator: str) -> None:
        """Nodes up to ``terminator`` ('return' in a func, 'yield' in a body)."""
        while not self.at("ident", terminator):
            token = self.peek()
            if token.kind != "value":
                what = f"a node ('%name: type = op ...') or '{terminator}'"
                if token.kind == "eof":
                    raise self.error(f"unexpected end of input, expected {what}", token)
                raise self.error(f"expected {what}, got {_describe(token)}", token)
            self.parse_node(graph)

    def parse_param(self, graph: Graph) -> None:
        token = self.expect("value", what="a parameter '%name: type'")
        name = token.text[1:]
        if not IDENTIFIER.match(name):
            raise self.error(f"parameter names must be identifiers, got {token.text}", token)
        self.define(name, token)
        self.expect("punct", ":")
        value = graph.add_input(name, self.parse_type()[0])
        self.values[name] = (value, token)

    def define(self, name: str, token: Token) -> None:
        if name in self.values:
            first = self.values[name][1]
            raise self.error(f"redefinition of value %{name} (first defined at line "
                             f"{first.line}, column {first.column})", token)

    def parse_type(self) -> tuple[TensorType, Token]:
        """type := dtype '[' [int (',' int)*] ']'"""
        token = self.expect("ident", what="a type such as f32[2,3]")
        if token.text not in DTYPES:
            raise self.error(f"unknown dtype '{token.text}'; expected one of "
                             f"{', '.join(DTYPES)}{_suggest(token.text, DTYPES)}", token)
        self.expect("punct", "[", "'[' after the dtype")
        dims = []
        if not self.at("punct", "]"):
            dims.append(self.parse_int("a dimension"))
            while self.at("punct", ","):
                self.take()
                dims.append(self.parse_int("a dimension"))
        self.expect("punct", "]", "',' or ']'")
        return TensorType(DTYPES[token.text], tuple(dims)), token

    def parse_int(self, what: str) -> int:
        token = self.expect("number", what=what)
        if not re.fullmatch(r"\d+", token.text):
            raise self.error(f"expected {what} (a non-negative integer), got '{token.text}'",
                             token)
        return self.int_of(token)

    def int_of(self, token: Token) -> int:
        """The value of an integer token; one too long for ``int()`` is a ParseError."""
        try:
            return int(token.text)
        except ValueError:  # Python refuses to convert more than 4300 digits
            digits = len(token.text.lstrip("-"))
            raise self.error(f"integer literal too long ({digits} digits)", token) from None

    def parse_node(self, graph: Graph) -> None:
        """node := results ':' types '=' op [operands] [attrs] [body] [loc]"""
        name_tokens = [self.take()]
        while self.at("punct", ","):
            self.take()
            name_tokens.append(self.expect("value", what="a result name '%name'"))
        for token in name_tokens:
            self.define(token.text[1:], token)
            if sum(t.text == token.text for t in name_tokens) > 1:
                raise self.error(f"result {token.text} is named twice", token)
        self.expect("punct", ":", "':' and the result type")
        declared = [self.parse_type()]
        while self.at("punct", ","):
            self.take()
            declared.append(self.parse_type())
        if len(declared) != len(name_tokens):
            raise self.error(f"{len(name_tokens)} result(s) named, but {len(declared)} type(s) "
                             "declared", declared[0][1])
        self.expect("punct", "=")
        op_token = self.expect("ident", what="an op name")
        if not registry.exists(op_token.text):
            names = [op.name for op in registry.all_ops()]
            raise self.error(f"unknown op '{op_token.text}'{_suggest(op_token.text, names)}",
                             op_token)
        opdef = registry.get(op_token.text)
        operands = self.parse_operands()
        body_attr = next((a.name for a in opdef.attrs if a.kind == "graph"), None)
        attrs = self.parse_attrs(opdef) if self.at_attrs(opdef) else {}
        if self.at("punct", "{"):
            if body_attr is None:
                raise self.error(f"{opdef.name} takes no body", self.peek())
            attrs[body_attr] = self.parse_body()
        memory = self.parse_memory(graph) if self.at("ident", "mem") else None
        loc = self.parse_loc() if self.at("ident", "loc") else None
        if self.at("eof"):
            # A file cut off mid-node: say so, rather than report the half node's arity.
            end = "'yield' and '}'" if self.outer_scopes else "'return' and '}'"
            raise self.error(f"unexpected end of input, expected more nodes, {end}", self.peek())

        if opdef.arity is not None and len(operands) != opdef.arity:
            raise self.error(f"{opdef.name} takes {opdef.arity} operand(s), got {len(operands)}",
                             op_token)
        for attr in opdef.attrs:
            if attr.required and attr.name not in attrs:
                if attr.kind == "graph":
                    raise self.error(f"{opdef.name} needs a body '{{ (%arg: type, ...): ... "
                                     "yield ... }'", op_token)
                raise self.error(f"{opdef.name} needs attribute '{attr.name}'", op_token)
        try:
            node = graph.add_node(opdef.name, operands, attrs, loc)
        except ShapeError as e:
            shown = ", ".join(str(v.type) for v in operands)
            raise self.error(f"{e} (operand types: {shown or 'none'})", op_token) from None
        if len(node.outputs) != len(name_tokens):
            raise self.error(f"{opdef.name} gives {len(node.outputs)} result(s) here, but "
                             f"{len(name_tokens)} are named", name_tokens[0])
        for value, name_token, (type_, type_token) in zip(node.outputs, name_tokens, declared):
            if value.type != type_:
                raise self.error(f"type mismatch: {name_token.text} is declared {type_}, but "
                                 f"{opdef.name} infers {value.type}", type_token)
            self.values[name_token.text[1:]] = (value, name_token)
        if graph.plan is not None:
            self.place_results(graph, node, memory, op_token)

    def at_attrs(self, opdef: registry.OpDef) -> bool:
        """Whether an attribute dict comes next: '{' and a name or '}'. After an op that takes
        a body, any other '{' starts the body."""
        if not self.at("punct", "{"):
            return False
        if not any(a.kind == "graph" for a in opdef.attrs):
            return not self.at("punct", "(", k=1)  # '{' '(' is a body, which it does not take
        return self.at("ident", k=1) or self.at("punct", "}", k=1)

    def parse_body(self) -> Graph:
        """body := '{' '(' [param (',' param)*] ')' ':' node* 'yield' [values] '}'

        The body is a scope of its own: outer values are not visible in it."""
        open_token = self.expect("punct", "{")
        if len(self.outer_scopes) >= MAX_NESTING:
            raise self.error(f"nesting too deep: bodies may nest at most {MAX_NESTING} levels",
                             open_token)
        self.expect("punct", "(", "'(' and the body's arguments")
        body = Graph("body")
        self.outer_scopes.append(self.values)
        self.values = {}
        if not self.at("punct", ")"):
            self.parse_param(body)
            while self.at("punct", ","):
                self.take()
                self.parse_param(body)
        self.expect("punct", ")", "',' or ')'")
        self.expect("punct", ":", "':' after the body's arguments")
        self.parse_nodes(body, "yield")
        yield_token = self.take()
        outputs, _ = self.parse_value_list()
        if not outputs:
            raise self.error("a body must yield at least one value", yield_token)
        body.set_outputs(outputs)
        self.expect("punct", "}", "'}' closing the body")
        self.values = self.outer_scopes.pop()
        return body

    def parse_operands(self) -> list[Value]:
        # Ops may have no operands, so a value that starts the next node ends the list.
        if not self.at("value") or self.starts_node():
            return []
        operands = [self.use_value()]
        while self.at("punct", ","):
            self.take()
            operands.append(self.use_value())
        return operands

    def starts_node(self) -> bool:
        """Whether the tokens ahead read ``%a [, %b ...] :``, the start of a node."""
        k = 0
        while self.at("value", k=k):
            if self.at("punct", ":", k=k + 1):
                return True
            if not self.at("punct", ",", k=k + 1):
                return False
            k += 2
        return False

    def use_value(self) -> Value:
        token = self.expect("value", what="a value '%name'")
        name = token.text[1:]
        if name not in self.values:
            if any(name in scope for scope in self.outer_scopes):
                raise self.error(f"use of {token.text}, which is defined outside this body; a "
                                 "body sees only its own arguments (pass the value as an "
                                 "operand of the fused node)", token)
            raise self.error(f"use of undefined value {token.text}", token)
        return self.values[name][0]

    def parse_attrs(self, opdef: registry.OpDef) -> dict:
        """attrs := '{' [name '=' attr_value (',' name '=' attr_value)*] '}'"""
        schema = {a.name: a for a in opdef.attrs}
        attrs: dict[str, Any] = {}
        self.expect("punct", "{")
        while not self.at("punct", "}"):
            if attrs:
                self.expect("punct", ",", "',' or '}'")
            name_token = self.expect("ident", what="an attribute name")
            name = name_token.text
            if name not in schema:
                takes = ", ".join(schema) or "no attributes"
                raise self.error(f"unknown attribute '{name}' for {opdef.name} (it takes "
                                 f"{takes}){_suggest(name, schema)}", name_token)
            if name in attrs:
                raise self.error(f"attribute '{name}' is given twice", name_token)
            self.expect("punct", "=", "'=' after the attribute name")
            value_token = self.peek()
            value = self.parse_attr_value()
            reason = attr_value_error(schema[name].kind, value)
            if reason:
                raise self.error(f"attribute '{name}' of {opdef.name}: {reason}", value_token)
            attrs[name] = value
        self.take()
        return attrs

    def parse_attr_value(self, depth: int = 0) -> Any:
        """attr_value := number | true | false | none | dtype | string | '[' [attr_value,...] ']'

        Lists may nest at most ``MAX_NESTING`` levels deep."""
        token = self.take()
        if token.kind == "number":
            is_float = any(c in token.text for c in ".eEn")  # 'n' catches inf and nan
            return float(token.text) if is_float else self.int_of(token)
        if token.kind == "string":
            return token.text
        if token.kind == "ident":
            keywords = {"true": True, "false": False, "none": None}
            if token.text in keywords:
                return keywords[token.text]
            if token.text in DTYPES:
                return DTYPES[token.text]
            options = list(keywords) + list(DTYPES)
            suggestion = _suggest(token.text, options)
            raise self.error(f"unknown attribute value '{token.text}'{suggestion}", token)
        if token.kind == "punct" and token.text == "[":
            if depth >= MAX_NESTING:
                raise self.error(f"nesting too deep: attribute lists may nest at most "
                                 f"{MAX_NESTING} levels", token)
            items: list[Any] = []
            while not self.at("punct", "]"):
                if items:
                    self.expect("punct", ",", "',' or ']'")
                items.append(self.parse_attr_value(depth + 1))
            self.take()
            return items
        what = "an attribute value (number, true, false, dtype, string or list)"
        if token.kind == "eof":
            raise self.error(f"unexpected end of input, expected {what}", token)
        raise self.error(f"expected {what}, got {_describe(token)}", token)

    # -- memory plans (ir.plan) -------------------------------------------------------------
    def parse_plan_header(self) -> MemoryPlan:
        """plan := 'plan' '(' 'arena' '=' int ',' 'align' '=' int ')'"""
        self.take()
        self.expect("punct", "(", "'(' after plan")
        self.expect("ident", "arena", "'arena='")
        self.expect("punct", "=")
        arena = self.parse_int("the arena size in bytes")
        self.expect("punct", ",", "',' and 'align='")
        self.expect("ident", "align", "'align='")
        self.expect("punct", "=")
        align_token = self.peek()
        alignment = self.parse_int("the alignment in bytes")
        if alignment == 0:
            raise self.error("the alignment must be positive", align_token)
        self.expect("punct", ")")
        return MemoryPlan(arena, alignment)

    def parse_memory(self, graph: Graph) -> list[tuple[Token, Placement]]:
        """mem := 'mem' '(' place (',' place)* ')';
        place := int ['reuses' %operand] | %input"""
        mem_token = self.take()
        if graph.plan is None:
            where = ("a body's values are kernel temporaries, not buffers" if self.outer_scopes
                     else "the function header has no 'plan(arena=..., align=...)'")
            raise self.error(f"mem(...) without a memory plan: {where}", mem_token)
        self.expect("punct", "(", "'(' after mem")
        places = [self.parse_place(graph)]
        while self.at("punct", ","):
            self.take()
            places.append(self.parse_place(graph))
        self.expect("punct", ")", "',' or ')'")
        return places

    def parse_place(self, graph: Graph) -> tuple[Token, Placement]:
        token = self.peek()
        if self.at("value"):
            self.take()
            index = next((i for i, v in enumerate(graph.inputs) if v.name == token.text[1:]),
                         None)
            if index is None:
                raise self.error(f"{token.text} is not an input of @{graph.name}: a value "
                                 "lives at an arena offset or in an input's buffer", token)
            return token, Placement(input=index, source=(token.line, token.column))
        source = (token.line, token.column)
        offset = self.parse_int("an arena offset or an input '%name'")
        reuses = None
        if self.at("ident", "reuses"):
            self.take()
            token = self.peek()
            reuses = self.use_value()
        return token, Placement(offset=offset, reuses=reuses, source=source)

    def place_results(self, graph: Graph, node: Node,
                      memory: list[tuple[Token, Placement]] | None, op_token: Token) -> None:
        """Records the node's ``mem(...)`` placements in ``graph.plan``."""
        assert graph.plan is not None
        if memory is None:
            raise self.error("this function has a memory plan: every node needs mem(...) "
                             "after its operands and attributes", op_token)
        if len(memory) != len(node.outputs):
            raise self.error(f"mem(...) gives {len(memory)} place(s) for {len(node.outputs)} "
                             "result(s)", memory[0][0])
        for value, (token, place) in zip(node.outputs, memory):
            if place.reuses is not None and not any(v is place.reuses for v in node.inputs):
                raise self.error(f"{token.text} is not an operand of this node: a result can "
                                 "only reuse the buffer of one of its operands", token)
            graph.plan.placements[value] = place

    def parse_loc(self) -> SourceLoc:
        """loc := 'loc' '(' string ':' int ')'"""
        self.take()
        self.expect("punct", "(", "'(' after loc")
        file = self.expect("string", what="a file name string").text
        self.expect("punct", ":")
        line = self.parse_int("a line number")
        self.expect("punct", ")")
        return SourceLoc(file, line)

    def parse_value_list(self) -> tuple[list[Value], list[Token]]:
        """[%value (',' %value)*], after 'return' or 'yield'."""
        values: list[Value] = []
        tokens: list[Token] = []
        if self.at("value"):
            tokens.append(self.peek())
            values.append(self.use_value())
            while self.at("punct", ","):
                self.take()
                tokens.append(self.peek())
                values.append(self.use_value())
        return values, tokens

    def parse_return(self, graph: Graph, result_types: list[TensorType]) -> None:
        """return := 'return' [%value (',' %value)*], matching the signature's result types."""
        return_token = self.take()
        outputs, tokens = self.parse_value_list()
        if len(outputs) != len(result_types):
            raise self.error(f"return gives {len(outputs)} value(s), but the signature declares "
                             f"{len(result_types)} result(s)", return_token)
        for i, (value, declared, token) in enumerate(zip(outputs, result_types, tokens)):
            if value.type != declared:
                raise self.error(f"return type mismatch: result {i} is declared {declared} in "
                                 f"the signature, but {token.text} has type {value.type}", token)
        graph.set_outputs(outputs)
