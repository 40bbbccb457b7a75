/* For CO-RE test programs: used with build/vmlinux.h (this kernel's types,
 * every struct marked preserve_access_index), so only macros here; also after
 * common.h by programs with their own types (core_local.c), whose SEC,
 * __uint and __type are the same. */
#ifndef EBPF_DEPLOY_TEST_CORE_COMMON_H
#define EBPF_DEPLOY_TEST_CORE_COMMON_H

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

/* clang's CO-RE builtins, spelled as libbpf's bpf_core_read.h does. */
#define field_offset(type, field) __builtin_preserve_field_info(((type *)0)->field, 0)
#define field_size(type, field) __builtin_preserve_field_info(((type *)0)->field, 1)
#define field_exists(type, field) __builtin_preserve_field_info(((type *)0)->field, 2)
#define field_signed(type, field) __builtin_preserve_field_info(((type *)0)->field, 3)
#define field_lshift(type, field) __builtin_preserve_field_info(((type *)0)->field, 4)
#define field_rshift(type, field) __builtin_preserve_field_info(((type *)0)->field, 5)
#define type_id_local(type) __builtin_btf_type_id(*(typeof(type) *)0, 0)
#define type_id_target(type) __builtin_btf_type_id(*(typeof(type) *)0, 1)
#define type_exists(type) __builtin_preserve_type_info(*(typeof(type) *)0, 0)
#define type_size(type) __builtin_preserve_type_info(*(typeof(type) *)0, 1)
#define enumval_exists(type, name) __builtin_preserve_enum_value(*(typeof(type) *)name, 0)
#define enumval_value(type, name) __builtin_preserve_enum_value(*(typeof(type) *)name, 1)

#endif
