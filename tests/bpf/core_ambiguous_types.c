/* Not a program: a target BTF where two flavours of one type disagree on a
 * field's offset, so a CO-RE relocation against it is ambiguous. */
struct ebpf_deploy_other___one {
	int a;
};

struct ebpf_deploy_other___two {
	int pad;
	int a;
};

struct ebpf_deploy_other___one one_instance;
struct ebpf_deploy_other___two two_instance;
