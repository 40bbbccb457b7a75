# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy layer: what the modules converge (imports every layer below).

- collection.py: one collection on a host: desired state, observed state, plan, apply, versions and swap
- lock.py: the per-collection lock every writer takes
- names.py: naming a collection's objects: collection plus name, or collection/name
- links.py: bpf_link: one attachment of a collection's program, pinned beside it
- entries.py: bpf_map: a pinned map's entries, encoded and decoded through its BTF
- migrate.py: copying a live map's entries into its resized successor
- records.py: the state records (frozen maps) a version and its links keep in bpffs
- shipped.py: objects sent from the controller (src), kept for the rest of the run
- facts.py: bpf_facts: host, features, workload and managed collections
"""
