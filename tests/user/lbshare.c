// The shared-map tests' libbpf loader (tests/integration/test_shared_maps.py):
// open OBJ with pin_root_path PIN_ROOT (maps pinned by name are reused from
// there, or created and pinned there), load it, pin its programs under PROGS.
// Built against current libbpf (/work/shared/tools/libbpf-ref/build.sh).
// usage: lbshare OBJ PIN_ROOT PROGS
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int warnings(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: lbshare OBJ PIN_ROOT PROGS\n");
		return 2;
	}
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = argv[2]);
	libbpf_set_print(warnings);
	struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		fprintf(stderr, "open: %s\n", strerror(errno));
		return 1;
	}
	int err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	err = bpf_object__pin_programs(obj, argv[3]);
	if (err) {
		fprintf(stderr, "pin programs: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
