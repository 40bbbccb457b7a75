/* The user program uprobe tests probe: `uprobe_target N [wait]` calls
 * uprobe_target_work(i) and getppid() N times (after a line on stdin with
 * `wait`, so a test can attach to its pid first). uprobe_target_work
 * returns 2*i + 1, which a uretprobe adds up; uprobe_target_more is the
 * second function a uprobe_target_* pattern matches. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) int uprobe_target_work(int i)
{
	__asm__ volatile("" ::: "memory");
	return 2 * i + 1;
}

__attribute__((noinline)) int uprobe_target_more(int i)
{
	__asm__ volatile("" ::: "memory");
	return i;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	long sum = 0;
	char line[8];

	if (argc > 2 && !fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < n; i++) {
		sum += uprobe_target_work(i);
		uprobe_target_more(i);
		getppid();
	}
	printf("%ld\n", sum);
	return 0;
}
