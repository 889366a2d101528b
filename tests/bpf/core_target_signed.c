/* A CO-RE target for core_signed.c (tests/test_core.py): both fields are
 * 8 bytes wide here. */
struct sthing {
	unsigned long long u;
	long long v;
};

struct sthing sthing_v;
