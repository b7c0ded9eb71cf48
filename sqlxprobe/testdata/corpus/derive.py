#!/usr/bin/env python3
"""Derive the real-world SQL corpora in this directory from public sources.

Not run by the tests or CI (the sources are not vendored); kept so that the
corpus can be regenerated and its provenance checked. See README.md for the
sources and the commits they were taken from.

Usage: derive.py LIBPG_QUERY SQLGLOT SQLC VITESS_SQLPARSER
  (paths to checkouts of pganalyze/libpg_query, tobymao/sqlglot,
  sqlc-dev/sqlc and xwb1989/sqlparser)

Writes postgres.jsonl, mysql.jsonl, sqlite.jsonl: one JSON object per line,
{"src": "<repository>:<path>", "q": "<statement>"}.
"""

import ast
import glob
import json
import os
import random
import re
import sys

MAX_LEN = 4000


# ---------------------------------------------------------------- splitting

def split_sql(text, dialect, scs=True):
    """Split a script into statements at top-level semicolons.

    dialect: "pg" (psql script: meta-commands, COPY data, dollar quotes,
    nested comments), "mysql" or "sqlite". Yields (statement, scs) where scs
    is the standard_conforming_strings setting in force (pg only).
    """
    out = []
    i, n, start, depth = 0, len(text), 0, 0
    at_line_start = True

    def emit(end):
        s = text[start:end].strip()
        if s:
            out.append((s, scs))

    while i < n:
        c = text[i]
        if dialect == "pg" and c == "\\":
            # psql meta-command: ends the statement, runs to end of line.
            emit(i)
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
            start = i
            continue
        if c == "-" and text.startswith("--", i) and (dialect != "mysql" or i + 2 >= n or text[i + 2] <= " "):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if c == "#" and dialect == "mysql":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if c == "/" and text.startswith("/*", i):
            if dialect == "pg":
                d, j = 1, i + 2
                while j < n and d > 0:
                    if text.startswith("/*", j):
                        d, j = d + 1, j + 2
                    elif text.startswith("*/", j):
                        d, j = d - 1, j + 2
                    else:
                        j += 1
                i = j
            else:
                j = text.find("*/", i + 2)
                i = n if j < 0 else j + 2
            continue
        if c in "'\"`" or (c == "[" and dialect == "sqlite"):
            close = "]" if c == "[" else c
            backslash = (c in "'\"" and dialect == "mysql") or (
                dialect == "pg" and c == "'" and (not scs or (i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_")))))
            j = i + 1
            while j < n:
                if backslash and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == close:
                    if close != "]" and j + 1 < n and text[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if c == "$" and dialect == "pg":
            m = re.match(r"\$([A-Za-z_\x80-\uffff][A-Za-z_0-9\x80-\uffff]*)?\$", text[i:])
            if m and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_$")):
                tag = m.group(0)
                j = text.find(tag, i + len(tag))
                i = n if j < 0 else j + len(tag)
                continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c == ";" and depth == 0:
            stmt = text[start:i].strip()
            emit(i)
            start = i + 1
            if dialect == "pg":
                m = re.match(r"(?is)^set\s+(?:session\s+|local\s+)?standard_conforming_strings\s*(?:to|=)\s*'?(\w+)", stmt)
                if m:
                    scs = m.group(1).lower() in ("on", "true", "1", "yes", "default")
                if re.match(r"(?is)^copy\b.*\bfrom\s+stdin", stmt):
                    # Data follows up to a line "\.".
                    end = text.find("\n\\.", i)
                    i = n if end < 0 else end + 3
                    start = i
                    continue
        i += 1
    emit(n)
    return out


# ---------------------------------------------------------------- sources

def pg_regress(root):
    for path in sorted(glob.glob(os.path.join(root, "test/sql/postgres_regress/*.sql"))):
        text = open(path, encoding="utf-8", errors="surrogateescape").read()
        for stmt, scs in split_sql(text, "pg"):
            if scs:  # the PostgreSQL dialect assumes standard_conforming_strings=on
                yield "pganalyze/libpg_query:" + os.path.relpath(path, root), stmt


def sqlglot_tests(root, dialect_file, dialect):
    path = os.path.join(root, "tests/dialects", dialect_file)
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        strs = []
        if name in ("validate_identity", "parse_one", "transpile"):
            strs = [a for a in node.args[:2]]
        elif name == "validate_all":
            strs = node.args[:1]
            for kw in node.keywords:
                if kw.arg in ("read", "write") and isinstance(kw.value, ast.Dict):
                    for k, v in zip(kw.value.keys, kw.value.values):
                        if isinstance(k, ast.Constant) and k.value == dialect:
                            strs.append(v)
        for s in strs:
            if isinstance(s, ast.Constant) and isinstance(s.value, str):
                yield "tobymao/sqlglot:tests/dialects/" + dialect_file, s.value


def sqlc_queries(root, engine):
    dialect = {"postgresql": "pg", "mysql": "mysql", "sqlite": "sqlite"}[engine]
    for path in sorted(glob.glob(os.path.join(root, "**", engine, "**", "*.sql"), recursive=True)):
        text = open(path, encoding="utf-8", errors="surrogateescape").read()
        for stmt, _ in split_sql(text, dialect):
            yield "sqlc-dev/sqlc:" + os.path.relpath(path, root), stmt


GO_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


def go_unquote(lit):
    if lit[0] == "`":
        return lit[1:-1]
    body, out, i = lit[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        if e in GO_ESC:
            out += GO_ESC[e].encode()
            i += 2
        elif e == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif e in "uU":
            w = 4 if e == "u" else 8
            out += chr(int(body[i + 2:i + 2 + w], 16)).encode()
            i += 2 + w
        else:
            out.append(int(body[i + 1:i + 4], 8))
            i += 4
    return out.decode("utf-8", errors="surrogateescape")


def vitess_inputs(root):
    for name in ("parse_test.go", "token_test.go", "normalizer_test.go", "redact_query_test.go"):
        path = os.path.join(root, name)
        if not os.path.exists(path):
            continue
        text = open(path).read()
        for m in re.finditer(r'\b(?:input|in|sql):\s*("(?:[^"\\\n]|\\.)*"|`[^`]*`)', text):
            yield "xwb1989/sqlparser:" + name, go_unquote(m.group(1))


# ---------------------------------------------------------------- selection

INTERESTING = re.compile(r"['\"`$\\#\[]|--|/\*|\b[eEnNxXbBuU]&?'")


def select(items, limit, seed):
    seen, keep = set(), []
    for src, q in items:
        q = q.strip()
        if not q or len(q) > MAX_LEN or q in seen:
            continue
        seen.add(q)
        keep.append((src, q))
    rnd = random.Random(seed)
    interesting = [x for x in keep if INTERESTING.search(x[1])]
    plain = [x for x in keep if not INTERESTING.search(x[1])]
    rnd.shuffle(interesting)
    rnd.shuffle(plain)
    n_int = min(len(interesting), int(limit * 0.8))
    chosen = interesting[:n_int] + plain[:limit - n_int]
    chosen.sort()
    return chosen, len(keep)


def write(path, items):
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        for src, q in items:
            f.write(json.dumps({"src": src, "q": q}, ensure_ascii=False) + "\n")


def main():
    libpg, sqlglot, sqlc, vitess = sys.argv[1:5]
    here = os.path.dirname(os.path.abspath(__file__))
    sets = {
        "postgres": (list(pg_regress(libpg)) + list(sqlglot_tests(sqlglot, "test_postgres.py", "postgres"))
                     + list(sqlc_queries(sqlc, "postgresql")), 2500),
        "mysql": (list(sqlglot_tests(sqlglot, "test_mysql.py", "mysql")) + list(vitess_inputs(vitess))
                  + list(sqlc_queries(sqlc, "mysql")), 2000),
        "sqlite": (list(sqlglot_tests(sqlglot, "test_sqlite.py", "sqlite")) + list(sqlc_queries(sqlc, "sqlite")), 1000),
    }
    for name, (items, limit) in sets.items():
        chosen, total = select(items, limit, seed=10)
        write(os.path.join(here, name + ".jsonl"), chosen)
        print(f"{name}: {len(chosen)} of {total} distinct statements, {sum(len(q) for _, q in chosen)} bytes")


if __name__ == "__main__":
    main()
