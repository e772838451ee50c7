"""The boolean expression over block numbers: ``1 AND (2 OR 3) AND NOT 4``.

Precedence is NOT > AND > OR, keywords are case-insensitive, and full-width
digits, letters, spaces and parentheses (``１ ＡＮＤ （２）``) are read as
their ASCII forms (NFKC), since Japanese input methods produce them. Every
error names its position as a 1-based character of what the marketer typed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

#: Deeper nesting is never needed by a person and would only let a long
#: expression exhaust the parser's stack.
MAX_DEPTH = 32

KEYWORDS = {"AND": "and", "OR": "or", "NOT": "not"}
DIGITS = "0123456789"


class ExpressionError(ValidationError):
    """An expression that cannot be read; ``position`` is 1-based (None: whole)."""

    def __init__(self, message: str, *, code: str, position: int | None = None) -> None:
        super().__init__(message, code=code)
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # number, and, or, not, (, ), end
    text: str
    position: int


@dataclass(frozen=True)
class BlockRef:
    number: str
    position: int

    def to_q(self, conditions: dict[str, Q]) -> Q:
        return conditions[self.number]


@dataclass(frozen=True)
class Not:
    operand: Node

    def to_q(self, conditions: dict[str, Q]) -> Q:
        return ~self.operand.to_q(conditions)


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]

    def to_q(self, conditions: dict[str, Q]) -> Q:
        result = Q()
        for operand in self.operands:
            result &= operand.to_q(conditions)
        return result


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]

    def to_q(self, conditions: dict[str, Q]) -> Q:
        result = self.operands[0].to_q(conditions)
        for operand in self.operands[1:]:
            result |= operand.to_q(conditions)
        return result


Node = BlockRef | Not | And | Or


def block_number(text: str) -> str:
    """The canonical block number: "01" and "１" are block "1"."""
    normalized = unicodedata.normalize("NFKC", str(text)).strip()
    if not normalized or any(c not in DIGITS for c in normalized):
        raise ValueError(text)
    return str(int(normalized))


def tokenize(expression: str) -> list[Token]:
    # Normalize character by character so each normalized character keeps the
    # position of the character the marketer typed (NFKC may expand one into
    # several, e.g. "⑴" into "(1)").
    chars = [
        (normalized, index + 1)
        for index, original in enumerate(expression)
        for normalized in unicodedata.normalize("NFKC", original)
    ]
    tokens: list[Token] = []
    i = 0
    while i < len(chars):
        char, position = chars[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            tokens.append(Token(char, char, position))
            i += 1
            continue
        if char in DIGITS:
            j = i
            while j < len(chars) and chars[j][0] in DIGITS:
                j += 1
            text = "".join(c for c, _p in chars[i:j])
            tokens.append(Token("number", str(int(text)), position))
            i = j
            continue
        if char.isascii() and char.isalpha():
            j = i
            while j < len(chars) and chars[j][0].isascii() and chars[j][0].isalpha():
                j += 1
            word = "".join(c for c, _p in chars[i:j])
            if word.upper() not in KEYWORDS:
                raise ExpressionError(
                    _("“%(text)s” at %(position)d is not a keyword: use AND, OR or NOT.")
                    % {"text": word, "position": position},
                    code="unknown_word",
                    position=position,
                )
            tokens.append(Token(KEYWORDS[word.upper()], word.upper(), position))
            i = j
            continue
        raise ExpressionError(
            _(
                "“%(text)s” at %(position)d cannot be used: write block numbers, "
                "AND, OR, NOT and parentheses."
            )
            % {"text": expression[position - 1], "position": position},
            code="unknown_character",
            position=position,
        )
    tokens.append(Token("end", "", len(expression) + 1))
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.parse_or()
        token = self.current
        if token.kind == ")":
            raise ExpressionError(
                _(
                    "The expression has an unbalanced parenthesis at %(position)d: "
                    "there is no “(” for this “)”."
                )
                % {"position": token.position},
                code="unbalanced_parenthesis",
                position=token.position,
            )
        if token.kind != "end":
            previous = self.tokens[self.index - 1]
            raise ExpressionError(
                _("Put AND or OR between “%(before)s” and “%(after)s” at %(position)d.")
                % {"before": previous.text, "after": token.text, "position": token.position},
                code="missing_operator",
                position=token.position,
            )
        return node

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.current.kind == "or":
            self.advance()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_not()]
        while self.current.kind == "and":
            self.advance()
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_not(self) -> Node:
        negations = 0
        while self.current.kind == "not":
            self.advance()
            negations += 1
        node = self.parse_operand()
        # NOT NOT 1 is 1; keeping the parity avoids deep trees for long chains.
        return Not(node) if negations % 2 else node

    def parse_operand(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            return BlockRef(token.text, token.position)
        if token.kind == "(":
            return self.parse_group()
        previous = self.tokens[self.index - 1] if self.index else None
        if token.kind == "end":
            if previous is None:
                raise ExpressionError(
                    _("Enter an expression such as 1 AND 2 AND NOT 3."), code="empty", position=1
                )
            raise ExpressionError(
                _(
                    "The expression stops too early at %(position)d: "
                    "add a block number after “%(after)s”."
                )
                % {"position": token.position, "after": previous.text},
                code="missing_operand",
                position=token.position,
            )
        if token.kind == ")" and previous is not None and previous.kind == "(":
            raise ExpressionError(
                _("The parentheses at %(position)d are empty: put a condition inside.")
                % {"position": previous.position},
                code="empty_parentheses",
                position=previous.position,
            )
        raise ExpressionError(
            _("A block number is missing before “%(text)s” at %(position)d.")
            % {"text": token.text, "position": token.position},
            code="missing_operand",
            position=token.position,
        )

    def parse_group(self) -> Node:
        opening = self.advance()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(
                _("The parentheses at %(position)d nest too deeply (at most %(limit)d levels).")
                % {"position": opening.position, "limit": MAX_DEPTH},
                code="too_deep",
                position=opening.position,
            )
        node = self.parse_or()
        if self.current.kind != ")":
            if self.current.kind == "end":
                raise ExpressionError(
                    _(
                        "The expression has an unbalanced parenthesis at %(position)d: "
                        "close this “(” with “)”."
                    )
                    % {"position": opening.position},
                    code="unbalanced_parenthesis",
                    position=opening.position,
                )
            previous = self.tokens[self.index - 1]
            raise ExpressionError(
                _("Put AND or OR between “%(before)s” and “%(after)s” at %(position)d.")
                % {
                    "before": previous.text,
                    "after": self.current.text,
                    "position": self.current.position,
                },
                code="missing_operator",
                position=self.current.position,
            )
        self.advance()
        self.depth -= 1
        return node


def parse_expression(expression: str) -> Node:
    """Parse or raise ``ExpressionError`` naming the first problem and where it is."""
    return _Parser(tokenize(expression or "")).parse()


def block_refs(node: Node) -> list[BlockRef]:
    """The block numbers an expression uses, in the order they appear."""
    if isinstance(node, BlockRef):
        return [node]
    if isinstance(node, Not):
        return block_refs(node.operand)
    return [ref for operand in node.operands for ref in block_refs(operand)]
