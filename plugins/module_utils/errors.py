# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors raised by the ebpf.deploy loader.

Every message names the object and the reason, in the form
``<kind> '<name>': <part> #<n>: <reason>[: got A, want B][: ENAME]``, so an
operator reading one line of a failed task knows what to fix. Modules turn
these into ``fail_json``; nothing in the loader exits the process.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno as _errno
import os


class LoaderError(Exception):
    """Base of every error the loader raises on purpose.

    ``hint`` is a separate sentence on how to fix it (shown by modules as
    ``hint``); ``details`` is a dict of extra machine-readable facts.
    """

    def __init__(self, message, hint=None, details=None):
        super(LoaderError, self).__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def __str__(self):
        return self.message


class ELFError(LoaderError):
    """The object file is not a well-formed eBPF ELF object."""


class BTFError(LoaderError):
    """BTF or BTF.ext data is malformed or inconsistent."""


class SpecError(LoaderError):
    """Map, program or variable definitions in the object are invalid or
    do not fit the options the caller gave."""


class RelocationError(LoaderError):
    """An instruction could not be relocated (maps, data, calls, CO-RE)."""


class NotSupportedError(LoaderError):
    """The running kernel lacks a feature the object needs.

    ``feature`` names it and ``min_kernel`` says which release brought it.
    """

    def __init__(self, message, feature=None, min_kernel=None, hint=None):
        if min_kernel:
            message = "%s (needs Linux %s or later)" % (message, min_kernel)
        super(NotSupportedError, self).__init__(message, hint=hint)
        self.feature = feature
        self.min_kernel = min_kernel


class SyscallError(LoaderError):
    """A bpf() or other system call failed; ``errno`` keeps the number so
    callers can match on it."""

    def __init__(self, message, err, hint=None):
        self.errno = err
        message = "%s: %s (%s)" % (message, errno_name(err), os.strerror(err))
        super(SyscallError, self).__init__(message, hint=hint)


class VerifierError(SyscallError):
    """The kernel verifier rejected a program; ``log`` holds the whole log
    and ``log_tail`` its last lines for display."""

    def __init__(self, message, err, log, hint=None, tail_lines=20):
        super(VerifierError, self).__init__(message, err, hint=hint)
        self.log = log
        lines = [line for line in log.splitlines() if line.strip()]
        self.log_tail = "\n".join(lines[-tail_lines:])

    def __str__(self):
        if not self.log_tail:
            return self.message
        return "%s\n-- BEGIN VERIFIER LOG (tail) --\n%s\n-- END VERIFIER LOG --" % (
            self.message, self.log_tail)


def errno_name(err):
    """Symbolic name of an errno value, e.g. ``EPERM``; ``E<n>`` if unknown."""
    return _errno.errorcode.get(err, "E%d" % err)
