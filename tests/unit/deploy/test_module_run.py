# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end of a plan/apply module: the result with or without its diff, a
LoaderError as a failed task with its hint; other errors are not hidden."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.module_run import converge_and_exit
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError


class Exited(Exception):
    pass


class FakeModule:
    def __init__(self, diff):
        self._diff = diff
        self.exited = None

    def exit_json(self, **result):
        self.exited = ("exit", result)
        raise Exited()

    def fail_json(self, **result):
        self.exited = ("fail", result)
        raise Exited()


@pytest.mark.parametrize("diff", [True, False])
def test_result_and_diff(diff):
    module = FakeModule(diff)
    with pytest.raises(Exited):
        converge_and_exit(module, lambda: {"changed": True, "diff": {"before": 1, "after": 2}})
    want = {"changed": True, "diff": {"before": 1, "after": 2}} if diff else {"changed": True}
    assert module.exited == ("exit", want)


def test_loader_error_fails_the_task_with_its_hint():
    def converge():
        raise LoaderError("map 'm': too big", hint="raise max_entries")
    module = FakeModule(False)
    with pytest.raises(Exited):
        converge_and_exit(module, converge)
    assert module.exited == ("fail", {"msg": "map 'm': too big", "hint": "raise max_entries"})


def test_other_errors_are_not_hidden():
    def converge():
        raise KeyError("bug")
    with pytest.raises(KeyError):
        converge_and_exit(FakeModule(False), converge)
