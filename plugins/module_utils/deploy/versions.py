# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Versions of a collection in bpffs: ``pin_root/name`` (live),
``pin_root/name__staging`` (being built, or the previous one right after a
swap) and ``pin_root/name__kept`` (the previous version, loaded but with no
links, for a rollback). Swapping them is atomic; a run that was
interrupted is finished by the next one (``recover``); an upgrade whose
links could not all move is swapped back (``roll_back``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_state, state_map_id
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    LINKS_DIR, LINK_REQUESTS_DIR, exchange, list_dir, make_dirs, remove_tree)


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


def recover(pins, keep_versions=0):
    """Finish what an interrupted run left: a staging version beside a
    complete live one (built but never swapped in, or swapped out but not
    yet removed), and links left on the kept version. Links move to the
    live version first. Returns the reasons to report (empty when there
    was nothing)."""
    reasons = []
    if os.path.isdir(pins.staging):
        reasons.extend(_recover_staging(pins, keep_versions))
    if os.path.lexists(pins.kept):
        reasons.extend(_recover_kept(pins))
    return reasons


def _recover_staging(pins, keep_versions):
    live_record = read_state(pins.live) if os.path.isdir(pins.live) else None
    staging_record = read_state(pins.staging)
    if live_record is None and staging_record is not None and not os.path.exists(pins.live):
        os.rename(pins.staging, pins.live)
        return ["finished the swap of a version an interrupted run had built"]
    if live_record is not None:
        # Imported only here: the common run finds no staging version.
        from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.version_links import carry_links

        reasons = carry_links(pins.staging, staging_record, pins.live)[0]
        # Ids only grow: a staging version older than the live one is the
        # one an upgrade swapped out (a newer one was never swapped in).
        staged, live = state_map_id(pins.staging), state_map_id(pins.live)
        if keep_versions and staging_record is not None and staged is not None and live is not None and staged < live:
            keep_previous(pins)
            return ["kept the previous version an interrupted upgrade left in %s" % pins.staging] + reasons
        remove_tree(pins.staging)
        return ["removed a version left in %s by an interrupted run" % pins.staging] + reasons
    remove_tree(pins.staging)
    return ["removed a version left in %s by an interrupted run" % pins.staging]


def _recover_kept(pins):
    """A kept version runs nowhere: links left on it by an interrupted
    rollback move to the live version (where it lacks them) and are then
    unpinned; the version a rollback rolled back from, or a kept version
    without a state record, is removed."""
    kept_record = read_state(pins.kept) if os.path.isdir(pins.kept) and not os.path.islink(pins.kept) else None
    if kept_record is None:
        remove_tree(pins.kept)
        return ["removed an incomplete kept version (%s)" % pins.kept]
    live_record = read_state(pins.live) if os.path.isdir(pins.live) else None
    if live_record is None:
        return []
    marker = live_record.get("rolled_back_from") or {}
    rolled_from = marker.get("state_id") is not None and marker.get("state_id") == state_map_id(pins.kept)
    links = [os.path.join(pins.kept, d) for d in (LINKS_DIR, LINK_REQUESTS_DIR)]
    has_links = any(list_dir(d) or os.path.islink(d) for d in links)
    if not has_links and not rolled_from:
        return []
    reasons = []
    if has_links:
        from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.version_links import carry_links

        reasons = carry_links(pins.kept, kept_record, pins.live)[0]
    if rolled_from:
        remove_tree(pins.kept)
        return ["removed the version an interrupted rollback rolled back from"] + reasons
    strip_links(pins.kept)
    return ["unpinned the links an interrupted run left on the kept version"] + reasons


def strip_links(version):
    """Unpin a version's links and their request records: a kept version
    is loaded but attached nowhere."""
    for sub in (LINKS_DIR, LINK_REQUESTS_DIR):
        remove_tree(os.path.join(version, sub))


def keep_previous(pins):
    """After an upgrade, with its links moved to the new live version: the
    previous version (in staging) becomes the kept one, replacing an older
    kept version (swapped atomically, then removed)."""
    strip_links(pins.staging)
    if os.path.isdir(pins.kept):
        exchange(pins.staging, pins.kept)
        remove_tree(pins.staging)
    else:
        os.rename(pins.staging, pins.kept)


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
