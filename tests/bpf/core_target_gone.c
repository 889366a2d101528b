/* A CO-RE target for core_fields.c (tests/test_core.py): struct thing has
 * the local layout but lacks `gone`; enum color lacks GREEN; struct inner
 * exists only as inner2 (type_exists says 0, the member still matches by
 * name). The flavored name thing___v2 is found by its essential name. */
struct inner2 {
	int x;
	int y;
};

struct thing___v2 {
	unsigned int a;
	unsigned short b;
	unsigned long long c;
	unsigned int bf1 : 3;
	unsigned int bf2 : 5;
	int sbf : 4;
	struct inner2 in;
	union {
		unsigned int u1;
		unsigned long long u2;
	};
	unsigned int arr[4];
};

enum color { RED = 0, BLUE = 2 };

struct thing___v2 thing_v;
enum color color_v;
