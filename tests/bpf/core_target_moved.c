/* A CO-RE target for core_fields.c (tests/test_core.py): its BTF plays a
 * kernel where struct thing's fields moved, changed size (b: u16 -> u32,
 * c: u64 -> u32), bitfields moved and resized, the anonymous union is nested
 * in an anonymous struct, the array grew, and enum color's values changed. */
struct inner {
	long long pad;
	int y;
	int x;
};

struct thing {
	char pad0[3];
	unsigned int c;
	unsigned int b;
	unsigned int a;
	int extra;
	unsigned int bf2 : 7;
	unsigned int bf1 : 3;
	int sbf : 6;
	unsigned int arr[8];
	struct inner in;
	struct {
		int z;
		union {
			unsigned long long u2;
			unsigned int u1;
		};
	};
	unsigned int gone;
};

enum color { BLUE = 7, RED = 1, GREEN = 3 };

struct thing thing_v;
enum color color_v;
