# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy layer: what the modules converge (imports every layer below).

- desired.py: bpf_collection's options, declared once (argument spec), checked into a Desired
- observed.py: what is pinned for a collection, read once, as plain data
- plan.py: the pure decision (no-op, create, replace, remove; per map reuse, migrate, recreate) and its diff
- apply.py: carrying out a plan: build beside the live version, swap, move links, remove the old one
- versions.py: the live and staging versions: swap, recovery after an interrupted run, roll back
- version_links.py: a version's links on upgrade and removal: re-made, re-pointed, put back, detached
- collection.py: converge one collection: lock, recover, observe, plan, apply (bpf_collection's backend)
- lock.py: the per-collection lock every writer takes, and the pin root's lock of shared maps
- shared.py: maps pinned by name, shared between collections: pinned once under pin_root/shared, their users
- names.py: naming a collection's objects: collection plus name, or collection/name
- links.py: bpf_link: one attachment of a collection's program, pinned beside it
- entries.py: bpf_map: a pinned map's entries, encoded and decoded through its BTF
- entries_src.py: entries from a file (JSON, JSON lines, YAML, CSV), streamed, diffed and written in batches
- module_run.py: the end bpf_link and bpf_map share: converge, a LoaderError as a failed task, diff only with --diff
- migrate.py: copying a live map's entries into its resized successor
- records.py: the state records (frozen maps) a version and its links keep in bpffs
- shipped.py: objects sent from the controller (src), kept for the rest of the run
- facts.py: bpf_facts: host, features, workload and managed collections
"""
