# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-run BTF cache where only root can set the scene: directories owned by another user,
and read-only or full file systems (tmpfs mounts). The rest of the cache is in
tests/unit/btf/test_cache.py, whose helpers these use."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from unit.btf.test_cache import RUN, VMLINUX, assert_valid_file, bypassed, fresh, golden, load  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.skipif(not os.path.exists(VMLINUX),
                                reason="no %s (kernel built without CONFIG_DEBUG_INFO_BTF, Linux 5.4+)" % VMLINUX)


@pytest.mark.parametrize("which", ["base", "run"])
def test_directory_of_another_user(tmp_path, fresh, which):
    base = tmp_path / "btf-cache"
    base.mkdir(mode=0o700)
    if which == "run":
        (base / RUN).mkdir(mode=0o700)
    os.chown(str(base if which == "base" else base / RUN), 65534, 65534)
    bypassed(str(base), fresh, "owned by uid 65534")


@pytest.fixture
def mounted(tmp_path):
    """mount(options) -> a fresh tmpfs directory; unmounted afterwards."""
    points = []

    def mount(options):
        point = tmp_path / ("mnt%d" % len(points))
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            pytest.skip("cannot mount tmpfs here: %s" % result.stdout.decode().strip())
        points.append(str(point))
        return str(point)

    yield mount
    for point in points:
        subprocess.run(["umount", "-l", point], check=False)


def test_read_only_filesystem(mounted, fresh):
    point = mounted("ro,size=1m")
    bypassed(os.path.join(point, "btf-cache"), fresh, "Read-only file system")


def test_full_filesystem(mounted, fresh):
    point = mounted("size=64k,mode=0700")
    cache = bypassed(os.path.join(point, "btf-cache"), fresh, "No space left on device")
    run_dir = os.path.dirname(cache.path)
    assert os.listdir(run_dir) == []


def test_read_only_after_build_still_hits(mounted, golden):
    # A run directory built earlier and remounted read-only serves hits.
    point = mounted("size=8m,mode=0700")
    directory = os.path.join(point, "btf-cache")
    assert load(directory)[0].status == "built"
    subprocess.check_call(["mount", "-o", "remount,ro", point])
    assert_valid_file(directory)
