"""Reading the files a user names: regular files only, bounded in size, UTF-8 only.

An experiment names files (itself, ``manifest_files``, empirical samples) that netsim
opens without a person watching: a named pipe would block the read forever,
``/dev/zero`` would fill memory, a folder or a binary file would end in a traceback.
So a file is opened without blocking, checked to be a regular file on the open
descriptor (no race between a check and the open), refused above a documented size
before anything is read, and read at most one byte past its cap. Text must be UTF-8
(a UTF-8 byte-order mark is allowed); anything else is refused with one line that
says what was found and how to fix it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from netsim.errors import ConfigError

MiB = 1 << 20
EXPERIMENT_FILE_LIMIT = 16 * MiB
"""Largest experiment or manifest file read (bytes)."""
SAMPLES_FILE_LIMIT = 64 * MiB
"""Largest empirical-samples file read (bytes)."""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bytes(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The contents of the regular file ``path``, refused (ConfigError) when larger than ``limit`` bytes."""
    where = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConfigError(where, "file not found; check the path (relative paths start at the experiment file's folder)") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot open the {what}: {exc.strerror}; check the path and its permissions") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise ConfigError(where, f"is {kind}, not a regular file; netsim reads {what}s from regular files only")
    with os.fdopen(fd, "rb", closefd=True) as handle:
        if info.st_size > limit:
            raise ConfigError(where, f"is {_size(info.st_size)}, above the {_size(limit)} limit for a {what}; split it or point at a smaller one")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise ConfigError(where, f"cannot read the {what}: {exc.strerror}") from None
    if len(data) > limit:  # it grew after fstat
        raise ConfigError(where, f"is larger than the {_size(limit)} limit for a {what}; split it or point at a smaller one")
    return data


def read_text(path: str | Path, limit: int, what: str = "file") -> str:
    """``read_bytes`` decoded as UTF-8 (a leading byte-order mark dropped); other encodings refused."""
    return decode_utf8(read_bytes(path, limit, what), str(path), what)


def decode_utf8(data: bytes, where: str, what: str = "file") -> str:
    """Strict UTF-8, with a message that names what the bytes probably are."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (b"\x00" in data[:4096] and data.count(b"\x00") * 4 >= min(len(data), 4096)):
        raise ConfigError(where, f"is not UTF-8 text (it looks like UTF-16 or UTF-32); netsim reads UTF-8 only: save the {what} as UTF-8")
    if b"\x00" in data:
        raise ConfigError(where, f"is not text (it holds NUL bytes); netsim reads UTF-8 text only: check that this is the {what} you meant")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            where, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); netsim reads UTF-8 only: save the {what} as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def _size(n: int) -> str:
    return f"{n / MiB:.3g} MiB" if n >= MiB else f"{n} bytes"
