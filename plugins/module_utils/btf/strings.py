# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The BTF string section: NUL-terminated names addressed by byte offset.

Strings are decoded one at a time when asked for and cached by offset; a
table of 100k+ names is never split up front. For split BTF (kernel module
BTF over vmlinux) a table has a ``base``: offsets below the base's size
resolve in the base, the rest in this table shifted by that size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError


# Longer than any name the kernel's BTF verifier accepts (KSYM_NAME_LEN is
# 512) and than file names in line info (PATH_MAX).
MAX_NAME_LEN = 4096


class StringTable:
    """Read-only view of one string section.

    ``buf`` is an object with ``find`` and slicing (bytes, bytearray, mmap)
    holding the section at ``[start, start + size)``; a memoryview is copied
    (only the string section) because it has no ``find``. ``base`` is the
    base BTF's table for split BTF.

    ``len()`` is the size of the offset space this table answers for: its
    own section plus the base's, so a further split table can stack on it.
    Not safe for concurrent first use of an offset from several threads
    (the cache is a plain dict; the worst case is decoding twice).
    """

    __slots__ = ("_buf", "_start", "_size", "_base", "_base_len", "_cache",
                 "name")

    def __init__(self, buf, start=0, size=None, base=None, name="<object>"):
        if size is None:
            size = len(buf) - start
        if start < 0 or size < 0 or start + size > len(buf):
            raise BTFError("BTF '%s': string section [%d, %d) outside data of %d bytes"
                           % (name, start, start + size, len(buf)))
        if not hasattr(buf, "find"):
            # memoryview and other plain buffers: copy just this section.
            buf = bytes(memoryview(buf)[start:start + size])
            start = 0
        self._buf = buf
        self._start = start
        self._size = size
        self._base = base
        self._base_len = len(base) if base is not None else 0
        self._cache = {}
        self.name = name

    def __len__(self):
        return self._base_len + self._size

    @property
    def base(self):
        return self._base

    @property
    def own_size(self):
        """Size of this table's own section, without the base."""
        return self._size

    def get(self, offset):
        """The string at ``offset``. Raises BTFError when the offset is
        outside the table, the string is not terminated, or not UTF-8.
        Cost: one ``find`` and decode on first use, a dict hit after."""
        try:
            return self._cache[offset]
        except KeyError:
            pass
        if offset < self._base_len:
            return self._base.get(offset)
        value = self._decode(offset)
        self._cache[offset] = value
        return value

    def _decode(self, offset):
        local = offset - self._base_len
        if local < 0 or local >= self._size:
            self._fail("string offset %d out of range (string section has %d bytes)"
                       % (offset, len(self)))
        start = self._start + local
        end = self._buf.find(b"\0", start, self._start + self._size)
        if end < 0:
            self._fail("string at offset %d is not NUL-terminated" % offset)
        if end - start > MAX_NAME_LEN:
            # The kernel refuses names this long; decoding many overlapping
            # ones would take gigabytes.
            self._fail("string at offset %d is %d bytes long (more than %d)" % (offset, end - start, MAX_NAME_LEN))
        try:
            return self._buf[start:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            self._fail("string at offset %d is not valid UTF-8: %s" % (offset, exc), exc)

    def _fail(self, reason, cause=None):
        # The reason is kept apart so callers can re-raise it with the
        # type or record it belongs to.
        raise BTFError("BTF '%s': %s" % (self.name, reason),
                       details={"reason": reason}) from cause

    def decoder(self):
        """A function offset -> str that skips the per-offset cache, for
        one-pass index builds that would otherwise fill it with every name.
        Same errors as ``get``."""
        base = self._base
        base_len = self._base_len
        decode = self._decode
        if base is None:
            return decode

        def decode_split(offset):
            if offset < base_len:
                return base.get(offset)
            return decode(offset)
        return decode_split
