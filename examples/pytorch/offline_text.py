"""A small word-level corpus made of text that ships with Python (the docstrings of some
standard-library modules), written as ``train.txt``, ``valid.txt`` and ``test.txt`` the way
PyTorch's word language model reads WikiText-2.

    python offline_text.py word_language_model/data/wikitext-2
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys

MODULES = ("collections", "functools", "itertools", "json", "pathlib", "random", "statistics",
           "string", "textwrap", "argparse", "heapq", "bisect", "fractions", "decimal")


def sentences() -> list[str]:
    text = []
    for name in MODULES:
        module = importlib.import_module(name)
        for _, member in sorted(vars(module).items()):
            doc = inspect.getdoc(member) if callable(member) else None
            if doc and getattr(member, "__module__", None) == name:
                text.append(doc)
    words = re.sub(r"[^A-Za-z0-9.,;:()' ]+", " ", " ".join(text).lower())
    return [line.strip() + " ." for line in words.split(". ") if len(line.split()) > 3]


def write_corpus(path: str) -> None:
    lines = sentences()
    n = len(lines)
    parts = {"train.txt": lines[: n * 8 // 10], "valid.txt": lines[n * 8 // 10: n * 9 // 10],
             "test.txt": lines[n * 9 // 10:]}
    os.makedirs(path, exist_ok=True)
    for file, part in parts.items():
        with open(os.path.join(path, file), "w", encoding="utf8") as f:
            f.write("\n".join(" " + line for line in part) + "\n")


if __name__ == "__main__":
    write_corpus(sys.argv[1] if len(sys.argv) > 1 else "data/wikitext-2")
