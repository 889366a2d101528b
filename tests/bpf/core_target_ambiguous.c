/* A CO-RE target for core_fields.c (tests/test_core.py): two flavors of
 * struct thing that disagree on where `a` is, so the relocation is
 * ambiguous and the load must fail naming it. */
struct thing___one {
	unsigned int a;
};

struct thing___two {
	unsigned int pad;
	unsigned int a;
};

struct thing___one one_v;
struct thing___two two_v;
