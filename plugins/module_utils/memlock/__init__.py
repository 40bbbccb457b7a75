# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memlock layer: what a collection costs the host in locked kernel
memory (imports kernel/, btf/ and loader/).

- accounting.py: how this kernel charges BPF memory (RLIMIT_MEMLOCK or memcg), deltas, shortfalls
- estimate.py: the footprint of each map and program by the 6.4+ kernel's per-map-type rules
"""
