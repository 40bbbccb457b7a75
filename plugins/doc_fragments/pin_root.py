# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """pin_root, shared by every module that works on deployed collections."""

    DOCUMENTATION = r"""
options:
  pin_root:
    description:
      - Directory on bpffs that holds every collection ebpf.deploy manages, each under C(pin_root/<name>).
      - bpffs refuses C(.) in names, so the default is C(ebpf_deploy), not C(ebpf.deploy).
    type: path
    default: /sys/fs/bpf/ebpf_deploy
"""
