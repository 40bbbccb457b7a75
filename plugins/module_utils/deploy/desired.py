# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the caller asks of one collection: bpf_collection's options, declared
once here (``ARGUMENT_SPEC``, which the module passes to AnsibleModule) and
checked into a ``Desired``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.formatters import human_to_bytes

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.names import DEFAULT_PIN_ROOT
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.values import Record

STATES = ("present", "absent", "rolled_back")
# How many previous versions stay loaded (unattached) for a rollback.
KEEP_VERSIONS = (0, 1)
INCOMPATIBLE_POLICIES = ("migrate", "recreate", "fail")
# How much a run that changes nothing reports: the controller processes and
# stores every result, on every host and run, so a no-op says only totals.
FACTS_LEVELS = ("summary", "full")
# btf.cache.make_cache's modes, repeated here so that the module's no-op
# path does not compile the cache (AnsiballZ compiles every import per run).
BTF_CACHE_MODES = ("run", "none")

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    path=dict(type="path"),
    src=dict(type="path"),
    state=dict(type="str", default="present", choices=list(STATES)),
    pin_root=dict(type="path", default=DEFAULT_PIN_ROOT),
    maps=dict(type="dict", default={}),
    prealloc=dict(type="bool"),
    constants=dict(type="dict", default={}),
    programs=dict(type="list", elements="str"),
    btf_path=dict(type="path"),
    btf_cache=dict(type="str", default="run", choices=list(BTF_CACHE_MODES)),
    run_id=dict(type="str"),
    object_sha256=dict(type="str"),
    on_incompatible_map=dict(type="str", default="migrate", choices=list(INCOMPATIBLE_POLICIES)),
    facts=dict(type="str", default="summary", choices=list(FACTS_LEVELS)),
    memlock_budget=dict(type="raw"),
    keep_versions=dict(type="int", default=1),
)


class ObjectNeeded(SpecError):
    """Only the object's digest was given and the collection must change:
    the caller sends the object and asks again."""


class Desired(Record):
    """One collection's desired state (the module's options, checked).

    ``path`` is the object on this host; ``object_sha256`` its digest for a
    caller that has not got the object itself (yet), which is enough to find
    that nothing changed; ``source`` is what errors call the object (the
    user's ``src``, not the temporary file it arrived in). Built as
    ``Desired(name, pin_root, path=..., ...)``: the fields in this order,
    all but the first two with the defaults below."""

    __slots__ = ("name", "pin_root", "path", "state", "maps", "prealloc", "constants", "programs", "btf_path",
                 "on_incompatible_map", "kernel_btf", "btf_cache", "run_id", "object_sha256", "source", "facts",
                 "memlock_budget", "keep_versions")
    _DEFAULTS = (None, "present", None, None, None, None, None, "migrate", None, "none", None, None, None,
                 "summary", None, 1)

    def _check(self):
        for option, choices in (("state", STATES), ("on_incompatible_map", INCOMPATIBLE_POLICIES),
                                ("btf_cache", BTF_CACHE_MODES), ("facts", FACTS_LEVELS)):
            value = getattr(self, option)
            if value not in choices:
                raise SpecError("%s %r: want one of %s" % (option, value, ", ".join(choices)))
        if self.keep_versions not in KEEP_VERSIONS or isinstance(self.keep_versions, bool):
            raise SpecError("keep_versions %r: want 0 (no previous version kept) or 1 (the previous version stays "
                            "loaded, unattached, for a rollback)" % (self.keep_versions,))
        self.maps = self.maps or {}
        self.constants = self.constants or {}
        self.programs = sorted(self.programs) if self.programs else None
        self.memlock_budget = budget_bytes(self.memlock_budget)

    @classmethod
    def from_params(cls, params, path, run_id):
        """From the module's checked parameters; ``path`` is where the object
        is on this host (None when only its digest came)."""
        return cls(params["name"], params["pin_root"], path=path, state=params["state"], maps=params["maps"],
                   prealloc=params["prealloc"], constants=params["constants"], programs=params["programs"],
                   btf_path=params["btf_path"], on_incompatible_map=params["on_incompatible_map"],
                   btf_cache=params["btf_cache"], run_id=run_id,
                   object_sha256=params["object_sha256"] if path is None else None, source=params["src"],
                   facts=params["facts"], memlock_budget=params["memlock_budget"],
                   keep_versions=params["keep_versions"])

    def options(self):
        """The options that define the deployed state, normalised as the
        state record keeps them (JSON types, sorted)."""
        maps = dict((n, dict((k, v) for k, v in sorted((s or {}).items()) if v is not None))
                    for n, s in sorted(self.maps.items()))
        return {"maps": maps, "prealloc": self.prealloc, "constants": self.constants, "programs": self.programs,
                "btf_path": self.btf_path}


def budget_bytes(value):
    """``memlock_budget`` in bytes (None for none): a number of bytes, or a
    string with a unit as Ansible's human_to_bytes filter takes it (K, KB,
    M, MB, G, GB: powers of 1024), so that one budget reads the same in
    every place it is written."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SpecError("memlock_budget %r: want a number of bytes, or one with a unit such as 64M" % (value,))
    try:
        budget = human_to_bytes(value)
    except (TypeError, ValueError) as e:
        raise SpecError("memlock_budget %r: want a number of bytes, or one with a unit such as 64M (K, M, G: "
                        "powers of 1024)" % (value,)) from e
    if budget < 0:
        raise SpecError("memlock_budget %r: must not be negative" % (value,))
    return budget
