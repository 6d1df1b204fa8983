#!/usr/bin/env python3
"""The house limits on Swift sources (docs/contributing.md): no file over 400 lines, and no function, initializer,
accessor or closure whose body (opening brace to closing brace) is over 80 lines unless the comment just above its
declaration gives the reason: "Longer than 80 lines on purpose: <why>". Type bodies (struct, class, enum, extension, protocol,
actor) are not functions; control-flow blocks are counted as part of their function. A block is reported only
when no block around it already is.

Usage: scripts/check-limits.py [DIR ...]   (default: Sources Tests Examples); exits 1 when something is over.
"""
import re
import sys
from pathlib import Path

MAX_FILE_LINES = 400
MAX_BODY_LINES = 80
MARKER = "Longer than 80 lines"
TYPE = re.compile(r"\b(struct|class|enum|extension|protocol|actor)\s+\w")
FUNCTION = re.compile(r"\b(func|init|deinit|subscript|get|set|willSet|didSet)\b")
CONTROL = re.compile(r"^(\}\s*)?(if|else|for|while|repeat|switch|do|catch|guard|defer)\b|^\}?\s*else\b")


def blank_comments_and_strings(text):
    """The text with comments and string literals (contents and quotes) replaced by spaces, newlines kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith('"""', i):
            j = text.find('"""', i + 3)
            j = n if j < 0 else j + 3
        elif text[i] == '"':
            j, depth = i + 1, 0
            while j < n and text[j] != "\n":
                if text[j] == "\\" and j + 1 < n:
                    if text[j + 1] == "(":
                        depth += 1
                    j += 2
                    continue
                if depth and text[j] == "(":
                    depth += 1
                elif depth and text[j] == ")":
                    depth -= 1
                elif not depth and text[j] == '"':
                    break
                j += 1
            j += 1
        else:
            out.append(text[i])
            i += 1
            continue
        out.append("".join(c if c == "\n" else " " for c in text[i:j]))
        i = j
    return "".join(out)


def strip_parentheses(text):
    """`text` without anything inside parentheses or brackets (arguments, attributes' arguments, types)."""
    previous = None
    while previous != text:
        previous, text = text, re.sub(r"\([^()]*\)|\[[^\[\]]*\]", "", text)
    return text


DECLARATION = re.compile(r"^(@|(public|private|fileprivate|internal|package|open|static|class|final|override|mutating|"
                         r"nonisolated|convenience|required|lazy|func|init|deinit|subscript|var|let)\b)")


def declaration_line(header, first_line):
    """The line where the declaration (or statement) that ends in `header` starts: its last line that begins
    like a declaration, then up over the attributes above it."""
    lines = header.split("\n")
    starts = [k for k, text in enumerate(lines) if DECLARATION.match(text.strip())]
    if not starts:
        starts = [k for k, text in enumerate(lines) if text.strip()] or [0]
    k = starts[-1]
    while k > 0 and lines[k - 1].strip().startswith("@"):
        k -= 1
    return first_line + k


def long_bodies(path):
    """(line, kind, length) of each function-like body over the limit without a reason."""
    source = path.read_text(encoding="utf-8")
    lines = source.split("\n")
    code = blank_comments_and_strings(source)
    found, stack, header_start = [], [], 0
    line = 1
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c in "{}":
            if c == "{":
                header = code[header_start:i]
                outer = strip_parentheses(header)
                kind = ("function" if FUNCTION.search(outer) else "type" if TYPE.search(outer)
                        else "control" if CONTROL.search(outer.strip()) else "function")
                start_line = declaration_line(header, code.count("\n", 0, header_start) + 1)
                stack.append((line, start_line, kind, header))
            elif stack:
                open_line, start_line, kind, header = stack.pop()
                header = header.strip().split("\n")[-1]
                length = line - open_line + 1
                if kind == "function" and length > MAX_BODY_LINES:
                    found.append((start_line, open_line, line, header))
            header_start = i + 1
        elif c == ";":
            header_start = i + 1
    # Keep the outermost of nested long blocks, then drop those whose comment gives the reason.
    found.sort(key=lambda f: (f[1], -f[2]))
    outermost, end = [], 0
    for f in found:
        if f[2] > end:
            outermost.append(f)
            end = f[2]
    result = []
    for start_line, open_line, close_line, header in outermost:
        comment, k = [], start_line - 2
        while k >= 0 and lines[k].strip().startswith(("//", "@")):
            comment.append(lines[k])
            k -= 1
        if not any(MARKER in text for text in comment):
            k = start_line - 1
            while k < open_line - 1 and lines[k].strip().startswith("@"):
                k += 1
            name = " ".join(lines[k].split())[:70]
            result.append((start_line, name, close_line - open_line + 1))
    return result


def main(roots):
    problems = 0
    for root in roots:
        for path in sorted(Path(root).rglob("*.swift")):
            if ".build" in path.parts:
                continue
            count = path.read_text(encoding="utf-8").count("\n")
            if count > MAX_FILE_LINES:
                print(f"{path}: {count} lines (limit {MAX_FILE_LINES}); split it along a seam")
                problems += 1
            for line, name, length in long_bodies(path):
                print(f"{path}:{line}: body of {length} lines (limit {MAX_BODY_LINES}): {name}; split it, or say"
                      f" why in its comment (\"{MARKER} on purpose: …\")")
                problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["Sources", "Tests", "Examples"]))
