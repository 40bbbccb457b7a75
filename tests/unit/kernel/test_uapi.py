# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for plugins/module_utils/kernel/uapi.py.

The strongest check compares our numbers with the kernel header of the
machine running the tests (``/usr/include/linux/bpf.h``, or the file named
by ``EBPF_UAPI_HEADER``). That header is usually older than our table, so
only names present in both are compared.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi

HEADER = os.environ.get("EBPF_UAPI_HEADER", "/usr/include/linux/bpf.h")
MODULE_FILE = uapi.__file__


# ---------------------------------------------------------------------------
# A small C header reader: enough of enums and object-like #defines to get
# the values of bpf.h, nothing more.
# ---------------------------------------------------------------------------
_NUMBER = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)(?:ULL|UL|LL|U|L)?\b")
_SAFE_EXPR = re.compile(r"^[0-9a-fA-FxX()<>|+\- ]*$")


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _evaluate(expr, known):
    """Integer value of a constant expression, or None if not understood."""
    expr = expr.strip()
    expr = _NUMBER.sub(lambda m: m.group(1), expr)

    def name_value(match):
        value = known.get(match.group(0))
        return match.group(0) if value is None else str(value)

    expr = re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b", name_value, expr)
    if not expr or not _SAFE_EXPR.match(expr):
        return None
    try:
        return int(eval(expr, {"__builtins__": {}}, {}))  # noqa: S307 - vetted charset
    except Exception:
        return None


def parse_header(path):
    """Return ({enum_name: {member: value}}, {name: value} for everything)."""
    with open(path) as f:
        text = _strip_comments(f.read())
    known = {}
    enums = {}
    for match in re.finditer(r"^#define\s+([A-Z_][A-Z0-9_]*)[ \t]+([^\n]+)$",
                             text, flags=re.M):
        value = _evaluate(match.group(2), known)
        if value is not None:
            known[match.group(1)] = value
    for match in re.finditer(r"\benum\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\{(.*?)\}",
                             text, flags=re.S):
        members = {}
        next_value = 0
        for item in match.group(2).split(","):
            item = item.strip()
            if not item:
                continue
            if "=" in item:
                name, expr = [part.strip() for part in item.split("=", 1)]
                value = _evaluate(expr, dict(known, **members))
                if value is None:
                    continue
            else:
                name, value = item, next_value
            members[name] = value
            next_value = value + 1
        known.update(members)
        if match.group(1):
            enums[match.group(1)] = members
    return enums, known


def _headers():
    paths = [HEADER]
    common = os.path.join(os.path.dirname(HEADER), "bpf_common.h")
    if os.path.exists(common):
        paths.insert(0, common)
    return paths


@pytest.fixture(scope="module")
def header():
    if not os.path.exists(HEADER):
        pytest.skip("no kernel header at %s" % HEADER)
    enums, known = {}, {}
    for path in _headers():
        path_enums, path_known = parse_header(path)
        enums.update(path_enums)
        known.update(path_known)
    return enums, known


@pytest.mark.parametrize("enum_name, minimum", [
    ("bpf_cmd", 20),
    ("bpf_map_type", 24),
    ("bpf_prog_type", 24),
    ("bpf_attach_type", 20),
    ("bpf_link_type", 0),
])
def test_enum_matches_header(header, enum_name, minimum):
    enums, _known = header
    if enum_name not in enums:
        if minimum:
            pytest.fail("enum %s not found in %s" % (enum_name, HEADER))
        pytest.skip("enum %s not in this (older) header" % enum_name)
    members = dict((name, value) for name, value in enums[enum_name].items()
                   if not name.startswith("__"))
    compared = 0
    for name, value in sorted(members.items()):
        if hasattr(uapi, name):
            assert getattr(uapi, name) == value, name
            compared += 1
    # Guards against the parser quietly reading nothing.
    assert compared >= minimum
    # The header is never newer than the kernel we describe in practice;
    # if it is, the missing names show here.
    missing = sorted(name for name in members if not hasattr(uapi, name))
    if missing and os.environ.get("EBPF_UAPI_STRICT"):
        pytest.fail("not in uapi.py: %s" % ", ".join(missing))


def _our_constants():
    return dict((name, value) for name, value in vars(uapi).items()
                if re.match(r"^(BPF_|MAX_BPF_)", name)
                and isinstance(value, int))


def test_every_shared_constant_matches_header(header):
    """Flags, pseudo sources and opcode fields: whatever both define."""
    _enums, known = header
    compared = []
    for name, value in sorted(_our_constants().items()):
        if name in known:
            assert known[name] == value, "%s: header %#x, uapi %#x" % (
                name, known[name], value)
            compared.append(name)
    for name in ("BPF_F_NO_PREALLOC", "BPF_F_RDONLY_PROG", "BPF_PSEUDO_MAP_FD",
                 "BPF_PSEUDO_CALL", "BPF_ANY", "BPF_F_LOCK", "BPF_JMP32",
                 "BPF_ALU64", "BPF_DW", "BPF_MOV", "BPF_CALL", "BPF_EXIT",
                 "BPF_F_ALLOW_MULTI", "BPF_F_STRICT_ALIGNMENT",
                 "BPF_OBJ_NAME_LEN", "BPF_REG_10"):
        assert name in compared, name


# ---------------------------------------------------------------------------
# Name tables.
# ---------------------------------------------------------------------------
TABLES = [
    ("BPF_MAP_TYPE_", uapi.MAP_TYPE_NAMES, uapi.MAP_TYPE_BY_NAME),
    ("BPF_PROG_TYPE_", uapi.PROG_TYPE_NAMES, uapi.PROG_TYPE_BY_NAME),
    ("BPF_LINK_TYPE_", uapi.LINK_TYPE_NAMES, uapi.LINK_TYPE_BY_NAME),
]


@pytest.mark.parametrize("prefix, names, by_name", TABLES,
                         ids=[t[0] for t in TABLES])
def test_short_names_cover_every_constant(prefix, names, by_name):
    values = set(value for name, value in vars(uapi).items()
                 if name.startswith(prefix) and isinstance(value, int))
    assert values == set(names)
    # Dense: enums only append, so a gap means a forgotten entry.
    assert sorted(names) == list(range(len(names)))
    # The short name is the constant's suffix, lower-cased, by bpftool's
    # convention (checked so a copy-paste slip shows up).
    for value, short in names.items():
        assert getattr(uapi, prefix + short.upper()) == value
    assert len(by_name) == len(names)


@pytest.mark.parametrize("value, name", sorted(uapi.MAP_TYPE_NAMES.items()))
def test_map_type_names_round_trip(value, name):
    assert uapi.MAP_TYPE_BY_NAME[name] == value
    assert uapi.MAP_TYPE_NAMES[uapi.MAP_TYPE_BY_NAME[name]] == name
    assert name == name.lower()


@pytest.mark.parametrize("value, name", sorted(uapi.PROG_TYPE_NAMES.items()))
def test_prog_type_names_round_trip(value, name):
    assert uapi.PROG_TYPE_NAMES[uapi.PROG_TYPE_BY_NAME[name]] == name


def test_attach_type_names():
    values = set(value for name, value in vars(uapi).items()
                 if isinstance(value, int) and name in _attach_type_constants())
    assert values == set(uapi.ATTACH_TYPE_NAMES)
    assert sorted(uapi.ATTACH_TYPE_NAMES) == list(
        range(len(uapi.ATTACH_TYPE_NAMES)))
    assert len(uapi.ATTACH_TYPE_BY_NAME) == len(uapi.ATTACH_TYPE_NAMES)
    for value, name in uapi.ATTACH_TYPE_NAMES.items():
        assert uapi.ATTACH_TYPE_BY_NAME[name] == value


def _attach_type_constants():
    # Attach types have no common prefix; read the enum block's bounds.
    names = [name for name in vars(uapi) if name.startswith("BPF_")]
    first = names.index("BPF_CGROUP_INET_INGRESS")
    last = names.index("BPF_TRACE_FSESSION_MULTI")
    return set(names[first:last + 1])


def test_cmd_names():
    assert sorted(uapi.CMD_NAMES) == list(range(len(uapi.CMD_NAMES)))
    for value, name in uapi.CMD_NAMES.items():
        assert getattr(uapi, name) == value
        assert uapi.CMD_BY_NAME[name] == value
    assert uapi.BPF_PROG_RUN == uapi.BPF_PROG_TEST_RUN


# ---------------------------------------------------------------------------
# Minimum kernels.
# ---------------------------------------------------------------------------
def _release(text):
    return tuple(int(part) for part in text.split("."))


@pytest.mark.parametrize("names, minimums", [
    (uapi.MAP_TYPE_NAMES, uapi.MAP_TYPE_MIN_KERNEL),
    (uapi.PROG_TYPE_NAMES, uapi.PROG_TYPE_MIN_KERNEL),
], ids=["map", "prog"])
def test_min_kernel_complete_and_monotonic(names, minimums):
    assert set(minimums) == set(names) - {0}
    releases = [_release(minimums[value]) for value in sorted(minimums)]
    # Enum values are handed out in order of merge, so a later type can
    # never need an older kernel than an earlier one.
    assert releases == sorted(releases)


@pytest.mark.parametrize("name, release", [
    ("hash", "3.19"), ("prog_array", "4.2"), ("lpm_trie", "4.11"),
    ("devmap", "4.14"), ("xskmap", "4.18"), ("sk_storage", "5.2"),
    ("struct_ops", "5.6"), ("ringbuf", "5.8"), ("task_storage", "5.11"),
    ("bloom_filter", "5.16"), ("user_ringbuf", "6.1"),
    ("cgrp_storage", "6.2"), ("arena", "6.9"),
])
def test_map_min_kernel_spot_checks(name, release):
    assert uapi.MAP_TYPE_MIN_KERNEL[uapi.MAP_TYPE_BY_NAME[name]] == release


@pytest.mark.parametrize("name, release", [
    ("socket_filter", "3.19"), ("xdp", "4.8"), ("sk_msg", "4.17"),
    ("tracing", "5.5"), ("lsm", "5.7"), ("syscall", "5.14"),
    ("netfilter", "6.4"),
])
def test_prog_min_kernel_spot_checks(name, release):
    assert uapi.PROG_TYPE_MIN_KERNEL[uapi.PROG_TYPE_BY_NAME[name]] == release


# ---------------------------------------------------------------------------
# Values added late, checked without a header (from the kernel source).
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [
    ("BPF_LINK_CREATE", 28), ("BPF_LINK_UPDATE", 29),
    ("BPF_LINK_GET_FD_BY_ID", 30), ("BPF_ENABLE_STATS", 32),
    ("BPF_ITER_CREATE", 33), ("BPF_LINK_DETACH", 34),
    ("BPF_PROG_BIND_MAP", 35), ("BPF_TOKEN_CREATE", 36),
    ("BPF_MAP_TYPE_RINGBUF", 27), ("BPF_MAP_TYPE_CGRP_STORAGE", 32),
    ("BPF_MAP_TYPE_ARENA", 33), ("BPF_PROG_TYPE_NETFILTER", 32),
    ("BPF_TCX_INGRESS", 46), ("BPF_TCX_EGRESS", 47),
    ("BPF_TRACE_UPROBE_MULTI", 48), ("BPF_CGROUP_UNIX_CONNECT", 49),
    ("BPF_NETKIT_PRIMARY", 54), ("BPF_NETKIT_PEER", 55),
    ("BPF_TRACE_KPROBE_SESSION", 56), ("BPF_LINK_TYPE_NETKIT", 13),
    ("BPF_F_INNER_MAP", 1 << 12), ("BPF_F_LINK", 1 << 13),
    ("BPF_F_PATH_FD", 1 << 14), ("BPF_F_VTYPE_BTF_OBJ_FD", 1 << 15),
    ("BPF_F_TOKEN_FD", 1 << 16), ("BPF_F_SEGV_ON_FAULT", 1 << 17),
    ("BPF_F_NO_USER_CONV", 1 << 18), ("BPF_F_XDP_HAS_FRAGS", 1 << 5),
    ("BPF_F_XDP_DEV_BOUND_ONLY", 1 << 6), ("BPF_F_BEFORE", 1 << 3),
    ("BPF_F_AFTER", 1 << 4), ("BPF_F_ID", 1 << 5),
    ("BPF_MEMSX", 0x80), ("BPF_ATOMIC", 0xc0),
    ("BPF_PSEUDO_MAP_IDX", 5), ("BPF_PSEUDO_MAP_IDX_VALUE", 6),
    ("BPF_PSEUDO_KFUNC_CALL", 2), ("LIBBPF_PIN_BY_NAME", 1),
])
def test_late_values(name, value):
    assert getattr(uapi, name) == value


def test_opcode_field_accessors():
    code = uapi.BPF_STX | uapi.BPF_DW | uapi.BPF_ATOMIC
    assert uapi.bpf_class(code) == uapi.BPF_STX
    assert uapi.bpf_size(code) == uapi.BPF_DW
    assert uapi.bpf_mode(code) == uapi.BPF_ATOMIC
    code = uapi.BPF_JMP32 | uapi.BPF_JSLE | uapi.BPF_X
    assert uapi.bpf_class(code) == uapi.BPF_JMP32
    assert uapi.bpf_op(code) == uapi.BPF_JSLE
    assert uapi.bpf_src(code) == uapi.BPF_X


# ---------------------------------------------------------------------------
# House rules for code that runs on managed hosts.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["kernel/uapi.py", "loader/sections.py"])
def test_module_is_python38_and_has_boilerplate(module):
    path = os.path.join(os.path.dirname(os.path.dirname(MODULE_FILE)), module)
    with open(path) as f:
        source = f.read()
    lines = source.splitlines()
    assert lines[0] == "# -*- coding: utf-8 -*-"
    assert lines[1] == "# Copyright: ebpf.deploy contributors"
    assert lines[2].startswith("# GNU General Public License v3.0+")
    tree = ast.parse(source, feature_version=(3, 8))
    assert ast.get_docstring(tree)
    assert "from __future__ import absolute_import, division, print_function" in source
    assert "\n__metaclass__ = type\n" in source
