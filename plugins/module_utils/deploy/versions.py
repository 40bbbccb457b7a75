# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Versions of a collection in bpffs: ``pin_root/name`` (live) and
``pin_root/name__staging`` (being built, or the previous one right after a
swap). Swapping them is atomic; a run that was interrupted is finished by
the next one (``recover``); an upgrade whose links could not all move is
swapped back (``roll_back``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import exchange, make_dirs, remove_tree


# Which pin roots ebpf.deploy created, so that removing the last collection
# removes the root too, and never one that was there before. Kept in /run,
# which is as volatile as bpffs: both are empty after a reboot.
CREATED_ROOTS_DIR = "/run/ebpf_deploy/pin_roots"


def _created_marker(pin_root):
    return os.path.join(CREATED_ROOTS_DIR, hashlib.sha256(os.path.normpath(pin_root).encode()).hexdigest()[:24])


def make_pin_root(pins):
    """Create pin_root (0700) where it is missing, remembering that we did."""
    created = make_dirs(pins.pin_root)
    if os.path.normpath(pins.pin_root) in (os.path.normpath(c) for c in created):
        try:
            os.makedirs(CREATED_ROOTS_DIR, 0o700, exist_ok=True)
            with open(_created_marker(pins.pin_root), "w") as f:
                f.write(pins.pin_root + "\n")
        except OSError:
            pass  # /run unusable: the root then stays after the last removal


def drop_pin_root(pins):
    """After a removal: remove pin_root if ebpf.deploy created it and it is
    empty now. Returns True if it was removed."""
    marker = _created_marker(pins.pin_root)
    if not os.path.exists(marker):
        return False
    try:
        os.rmdir(pins.pin_root)   # refused unless empty: another collection's pins stay
    except OSError:
        return False
    try:
        os.unlink(marker)
    except OSError:
        pass
    return True


def swap_in(pins, replacing):
    """Make the staging version live: exchanged with the live one when
    ``replacing`` (which then sits in staging), else renamed into place."""
    if replacing:
        exchange(pins.staging, pins.live)
    else:
        os.rename(pins.staging, pins.live)


def recover(pins):
    """Finish what an interrupted run left: a staging version beside a
    complete live one (built but never swapped in, or swapped out but not
    yet removed). Its links, if any, move to the live version first.
    Returns the reasons to report (empty when there was nothing)."""
    if not os.path.isdir(pins.staging):
        return []
    reasons = ["removed a version left in %s by an interrupted run" % pins.staging]
    live_record = read_state(pins.live) if os.path.isdir(pins.live) else None
    if live_record is None and read_state(pins.staging) is not None and not os.path.exists(pins.live):
        os.rename(pins.staging, pins.live)
        return ["finished the swap of a version an interrupted run had built"]
    if live_record is not None:
        # Imported only here: the common run finds no staging version.
        from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.version_links import carry_links

        reasons.extend(carry_links(pins.staging, read_state(pins.staging), pins.live)[0])
    remove_tree(pins.staging)
    return reasons


def roll_back(pins, error):
    """After the swap, a link could not be moved (carry_links has put the
    moved ones back): the previous version goes live again, the new one is
    removed. Returns the error to raise."""
    try:
        exchange(pins.staging, pins.live)
    except (LoaderError, OSError) as e:
        return LoaderError("collection '%s': upgrade failed after the swap (%s) and the previous version could not "
                           "be restored (%s); the next run repairs it" % (pins.name, error, e))
    remove_tree(pins.staging)
    return LoaderError("collection '%s': upgrade rolled back, the previous version is live again with every link "
                       "on its program: %s" % (pins.name, error), hint=error.hint)
