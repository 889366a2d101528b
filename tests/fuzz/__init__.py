"""Fuzzing bpfnest's parsers: the ELF reader, BTF and BTF.ext.

- :mod:`.layout` knows the formats (independently of bpfnest) well enough to
  list every header field, record field and string offset of an object;
- :mod:`.mutate` turns a seed into a mutant, blindly (bit flips, truncation,
  inserted/deleted ranges) or structurally (a section header field, a BTF
  type id, a relocation's symbol index...);
- :mod:`.harness` holds the seeds and ``check_one(data)``: parse, and fail
  unless the parse succeeds or raises ``bpfnest.ParseError``, within a time
  and memory limit;
- :mod:`.run` is the long-running CLI (atheris when installed, else random).

``tests/test_fuzz.py`` runs a short, deterministic version in CI.
"""
