/* A CO-RE target for core_flex.c (tests/test_core.py): the flexible array
 * of struct msg starts at byte 12 instead of 4. */
struct msg {
	unsigned long long hdr;
	unsigned int len;
	unsigned char data[];
};

struct msg *msg_v;
