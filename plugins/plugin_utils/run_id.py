# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One id per playbook run, derived on the controller (runs in action plugins).

Action plugins run in workers forked from the ansible-playbook process, so
that process's pid plus its start time names the run: every task of the
run gets the same id, the next run another one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def controller_run_id():
    """'<pid>-<start time>' of the ansible process running this task."""
    pid = os.getppid()
    start = "0"
    try:
        with open("/proc/%d/stat" % pid) as f:
            # Field 22 (starttime) comes after the command name in parentheses.
            start = f.read().rsplit(")", 1)[1].split()[19]
    except (IOError, OSError, IndexError):
        pass
    return "%d-%s" % (pid, start)
