# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy layer: what the modules converge (imports every layer below).

- desired.py: bpf_collection's options, declared once (argument spec), checked into a Desired
- observed.py: what is pinned for a collection, read once, as plain data
- plan.py: the pure decision (no-op, create, replace, remove, rollback, prune; per map reuse, migrate, recreate)
  and its diff
- apply.py: carrying out a plan: build beside the live version, swap, move links, remove the old one
- versions.py: the live, staging and kept versions: swap, keep, recovery after an interrupted run, roll back
- rollback.py: carrying out a rollback: the kept version live again, entries copied back, links moved
- health.py: bpf_health: links on live programs, run counts over a window, map conditions
- version_links.py: a version's links on upgrade and removal: re-made, re-pointed, put back, detached
- collection.py: converge one collection: lock, recover, observe, plan, apply (bpf_collection's backend)
- lock.py: the per-collection lock every writer takes, and the pin root's lock of shared maps
- shared.py: maps pinned by name, shared between collections: pinned once under pin_root/shared, their users
- names.py: naming a collection's objects: collection plus name, or collection/name
- links.py: bpf_link: one attachment of a collection's program, pinned beside it
- entries.py: bpf_map: a pinned map's entries, encoded and decoded through its BTF
- entries_src.py: entries from a file (JSON, JSON lines, YAML, CSV), streamed, diffed and written in batches
- entries_cache.py: a file's encoded entries kept on the host per map, so an unchanged re-run parses nothing
- entries_swap.py: atomic: a fresh inner map filled whole, then put into its map-in-map slot with one update
- module_run.py: the end bpf_link and bpf_map share: converge, a LoaderError as a failed task, diff only with --diff
- migrate.py: copying a live map's entries into its resized successor, converted to new key/value types
- records.py: the state records (frozen maps) a version and its links keep in bpffs
- shipped.py: files sent from the controller (src, entries_src), kept for the rest of the run
- facts.py: bpf_facts: host, features, workload and managed collections
"""
