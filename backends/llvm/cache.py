"""An on-disk cache of compiled object code: one checksummed file per compiled LLVM module.

Where: ``$GRAPHC_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``;
the llvm backend keeps its entries in the ``llvm`` folder there, one ``<key>.gobj`` file each
(the numba and cuda backends keep their generated modules in ``numba`` and ``cuda``, which
:func:`summary` and :func:`clear` count too).
The key (:func:`cache_key`) is a SHA-256 of everything that decides the machine code: the LLVM
IR text handed to the optimizer (or a text that decides it: the llvm backend keys a graph's
module by the graph's IR text, its call plan, its options and :func:`code_fingerprint`, the
source of the code that turns graphs into LLVM IR, so a warm start renders nothing), the
backend's options, the target (triple, CPU name, CPU features, LLVM version, target machine
settings) and the versions of graphc, llvmlite and NumPy.

An entry is a fixed header, then the payload::

    magic b"GRAPHCOB" | format version (u32) | key (32 bytes) | payload size (u64) | SHA-256 of payload
    payload: three sizes (u32 each), then metadata (JSON: exported and imported symbols),
             the optimized LLVM IR text and the object code

Loading object code that is not what we wrote can crash the process, so an entry is used only
if every check passes (magic, format version, the key it was asked for, the size, the
checksum); anything else is a miss whose reason the caller reports, and the entry is rebuilt.
Writes are atomic (a temporary file in the same folder, fsync, ``os.replace``): two processes
compiling the same graph at once both succeed and leave one valid entry. Reads refresh an
entry's modification time, and writes drop the least recently used entries beyond
``max_bytes``.

    >>> import tempfile
    >>> store = ObjectCache(Path(tempfile.mkdtemp()))
    >>> key = cache_key("define void @k0() { ret void }", {"speed_level": 2}, {"cpu": "demo"})
    >>> store.store(key, CachedObject(b"\\x7fELF...", exports=("k0",), imports=(),
    ...                               optimized_ir="..."))
    >>> entry, why_not = store.load(key)
    >>> entry.exports, why_not
    (('k0',), '')
    >>> store.load(cache_key("other IR", {}, {}))
    (None, 'no entry')

This module imports no llvmlite: ``graphc cache info|clear`` stays fast.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import struct
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
MAGIC = b"GRAPHCOB"
SUFFIX = ".gobj"
TEMP_PREFIX = ".tmp-"  # half-written entries; never read, removed by clear()
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of entries per backend folder
# magic, format version, key digest, payload size, payload digest
_HEADER = struct.Struct("<8sI32sQ32s")
_SECTIONS = struct.Struct("<III")  # sizes of metadata, optimized IR, object code
_log = logging.getLogger("graphc.cache")


def cache_dir() -> Path:
    """The root of graphc's caches: ``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``,
    else ``~/.cache/graphc`` (read at every call, so a changed environment is honoured)."""
    override = os.environ.get("GRAPHC_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "graphc"


@functools.cache
def _version(package: str) -> str:
    """``package``'s version: its ``__version__`` when it is imported (llvmlite and NumPy are,
    when code is compiled; graphc is, under ``graphc.compile``), else its installed metadata
    (``importlib.metadata`` takes ~20 ms to import: a warm start's budget is ~100 ms)."""
    version = getattr(sys.modules.get(package), "__version__", None)
    if isinstance(version, str):
        return version
    import importlib.metadata
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_key(source: str, options: Mapping[str, object], target: Mapping[str, object]) -> str:
    """The hex SHA-256 naming the object code of ``source`` compiled with ``options`` for
    ``target`` by these versions of graphc, llvmlite and NumPy. ``source`` is the LLVM IR text,
    or a text that decides it entirely (the llvm backend's: the graph's IR text, its call plan,
    its options and :func:`code_fingerprint`).

        >>> a = cache_key("ir", {"speed_level": 2}, {"cpu": "znver3"})
        >>> a == cache_key("ir", {"speed_level": 3}, {"cpu": "znver3"}), len(a)
        (False, 64)
    """
    described = {
        "format": FORMAT_VERSION,
        "source": source,
        "options": dict(options),
        "target": dict(target),
        "versions": {name: _version(name) for name in ("graphc", "llvmlite", "numpy")},
    }
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


CODE_PACKAGES = ("ir", "backends")  # what turns an optimized graph into LLVM IR


@functools.cache
def code_fingerprint() -> str:
    """The :func:`source_digest` of the packages that turn an optimized graph into LLVM IR
    (read once per process): a key naming code by the graph it came from must change whenever
    the code that renders graphs does, also in a checkout whose version number stays the same.

        >>> len(code_fingerprint())
        64
    """
    return source_digest(Path(__file__).resolve().parents[2], CODE_PACKAGES)


def source_digest(root: Path, packages: tuple[str, ...]) -> str:
    """A SHA-256 of the names and contents of every ``.py`` file under ``root/<package>``."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedObject:
    """What one entry holds: object code, the functions callers look up in it (``exports``),
    the external symbols it needs from the process (``imports``) and the optimized IR (for
    ``source()``)."""

    object_code: bytes
    exports: tuple[str, ...]
    imports: tuple[str, ...]
    optimized_ir: str

    def encode(self) -> bytes:
        meta = json.dumps({"exports": list(self.exports), "imports": list(self.imports)}).encode()
        ir_text = self.optimized_ir.encode()
        return (_SECTIONS.pack(len(meta), len(ir_text), len(self.object_code))
                + meta + ir_text + self.object_code)

    @staticmethod
    def decode(payload: bytes) -> CachedObject:
        """The entry in ``payload``; ``ValueError`` if it is not laid out as :meth:`encode`
        writes it."""
        if len(payload) < _SECTIONS.size:
            raise ValueError("payload shorter than its section table")
        sizes = _SECTIONS.unpack_from(payload)
        if _SECTIONS.size + sum(sizes) != len(payload):
            raise ValueError("section sizes do not add up to the payload size")
        start = _SECTIONS.size
        meta_bytes = payload[start:start + sizes[0]]
        ir_bytes = payload[start + sizes[0]:start + sizes[0] + sizes[1]]
        object_code = payload[start + sizes[0] + sizes[1]:]
        meta = json.loads(meta_bytes)
        if not object_code:
            raise ValueError("no object code")
        return CachedObject(object_code, tuple(meta["exports"]), tuple(meta["imports"]),
                            ir_bytes.decode())


def encode_entry(key: str, entry: CachedObject) -> bytes:
    """The bytes of the file that stores ``entry`` under ``key``: header, then payload."""
    payload = entry.encode()
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, bytes.fromhex(key), len(payload),
                          hashlib.sha256(payload).digest())
    return header + payload


def decode_entry(key: str, data: bytes) -> CachedObject:
    """The entry stored in ``data`` if it is a complete, intact entry for ``key``; otherwise
    ``ValueError`` saying which check failed."""
    if len(data) < _HEADER.size:
        raise ValueError(f"truncated: {len(data)} bytes, shorter than the header")
    magic, version, digest, size, checksum = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("not a graphc cache entry (wrong magic)")
    if version != FORMAT_VERSION:
        raise ValueError(f"format version {version}, this graphc reads {FORMAT_VERSION}")
    if digest != bytes.fromhex(key):
        raise ValueError("written for another key")
    payload = data[_HEADER.size:]
    if len(payload) != size:
        raise ValueError(f"truncated: payload of {len(payload)} bytes, header says {size}")
    if hashlib.sha256(payload).digest() != checksum:
        raise ValueError("checksum mismatch (corrupt)")
    try:
        return CachedObject.decode(payload)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed payload: {exc}") from exc


@dataclass(frozen=True)
class CacheSummary:
    """What ``graphc cache info`` prints: where, how many entries, how many bytes."""

    directory: Path
    entries: int
    total_bytes: int


class ObjectCache:
    """A folder of entries. ``directory=None`` follows :func:`cache_dir` at every call (its
    ``subdir``), so tests and users redirect it with ``GRAPHC_CACHE_DIR``."""

    def __init__(self, directory: Path | None = None, subdir: str = "llvm",
                 max_bytes: int = DEFAULT_MAX_BYTES):
        self._directory, self.subdir, self.max_bytes = directory, subdir, max_bytes

    @property
    def directory(self) -> Path:
        return self._directory if self._directory is not None else cache_dir() / self.subdir

    def path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def load(self, key: str) -> tuple[CachedObject | None, str]:
        """``(entry, "")`` on a hit; ``(None, why)`` when there is no usable entry."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, "no entry"
        except OSError as exc:
            return None, f"unreadable entry {path}: {exc.strerror or exc}"
        try:
            entry = decode_entry(key, data)
        except ValueError as exc:
            _log.info("ignoring cache entry %s: %s", path, exc)
            return None, f"ignored entry {path.name}: {exc}"
        try:
            os.utime(path)  # least recently *used* goes first when the folder is full
        except OSError:
            pass
        return entry, ""

    def store(self, key: str, entry: CachedObject) -> None:
        """Writes ``entry`` atomically. A cache that cannot be written is no error (the code
        is compiled already): it is logged and skipped."""
        directory = self.directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=SUFFIX)
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(encode_entry(key, entry))
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp, self.path(key))
            except BaseException:
                os.unlink(temp)
                raise
        except OSError as exc:
            _log.warning("could not write cache entry in %s: %s", directory, exc)
            return
        self._evict(keep=self.path(key))

    def entry_paths(self) -> list[Path]:
        """The entry files, least recently used first."""
        return _entries_by_age(self.directory)

    def _evict(self, keep: Path) -> None:
        """Removes least recently used entries while the folder holds more than ``max_bytes``."""
        sized = []
        for path in self.entry_paths():
            try:
                sized.append((path, path.stat().st_size))
            except OSError:
                continue
        total = sum(size for _, size in sized)
        for path, size in sized:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
                total -= size
            except OSError:
                pass


def _entries_by_age(directory: Path) -> list[Path]:
    found = []
    for path in directory.rglob(f"*{SUFFIX}"):
        if path.name.startswith(TEMP_PREFIX):
            continue
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:  # removed meanwhile by another process
            continue
    return [path for _, path in sorted(found)]


# The numba and cuda backends' generated modules (``g<digest>.py``, written by
# ``backends.numba.backend.load_generated``) and what Python and numba cache for them in
# ``__pycache__`` (``g<digest>.<kernel>-<line>.py311.nbi``/``.nbc``): one entry per module.
GENERATED_FOLDERS = ("numba", "cuda")
_GENERATED_MODULE = re.compile(r"g[0-9a-f]{32}\.py")
_GENERATED_FILE = re.compile(r"(g[0-9a-f]{32}\.|\.tmp-.*\.py$)")


def _generated_files(directory: Path) -> list[tuple[Path, bool]]:
    """(path, whether it is a module) for the generated files under ``directory``; names
    that graphc does not write are never listed (the folder may be shared)."""
    found = []
    for name in GENERATED_FOLDERS:
        for folder in (directory / name, directory / name / "__pycache__"):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if _GENERATED_FILE.match(path.name) and path.is_file():
                    found.append((path, folder.name == name and
                                  _GENERATED_MODULE.fullmatch(path.name) is not None))
    return found


def summary(directory: Path | None = None) -> CacheSummary:
    """Entries and bytes under ``directory`` (default :func:`cache_dir`), every backend's:
    llvm's object files, and numba's and cuda's generated modules with their machine code."""
    directory = directory or cache_dir()
    total, count = 0, 0
    if directory.is_dir():
        files = [(path, True) for path in _entries_by_age(directory)]
        for path, is_entry in files + _generated_files(directory):
            try:
                total += path.stat().st_size
            except OSError:
                continue
            count += is_entry
    return CacheSummary(directory, count, total)


def clear(directory: Path | None = None) -> int:
    """Removes every entry (and half-written temporary file) under ``directory`` (default
    :func:`cache_dir`), every backend's; returns how many entries it removed. Other files are
    left alone."""
    directory = directory or cache_dir()
    if not directory.is_dir():
        return 0
    removed = 0
    files = [(path, not path.name.startswith(TEMP_PREFIX))
             for path in directory.rglob(f"*{SUFFIX}")]
    for path, is_entry in files + _generated_files(directory):
        try:
            path.unlink()
        except OSError:
            continue
        removed += is_entry
    return removed


__all__ = ["CODE_PACKAGES", "CacheSummary", "CachedObject", "ObjectCache", "cache_dir",
           "cache_key", "clear", "code_fingerprint", "decode_entry", "encode_entry",
           "source_digest", "summary"]
