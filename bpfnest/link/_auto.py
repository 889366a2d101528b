"""``Program.attach(**target)``: the hook named by the program's section, as
libbpf's auto-attach does (its ``SEC_DEF`` table with attach functions).

One :class:`Rule` per family of sections: the section patterns it takes, the
``attach_*`` method it calls (named in errors), the target keywords it needs
and allows, and the call itself. Adding a hook is adding one row to
:data:`RULES`. Everything is checked before any syscall: a program with no
section, a section no row takes, a keyword not allowed, a keyword missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import features
from ..constants import AttachType, ProgType

if TYPE_CHECKING:
    from ..programs import Program
    from ._link import Link

__all__ = ["RULES", "Rule", "auto_attach", "check_target", "find_rule"]

#: (program, what the section says after its prefix, the target keywords) -> Link
Call = Callable[["Program", str, Mapping[str, Any]], "Link"]


@dataclass(frozen=True)
class Rule:
    """How ``attach()`` attaches the programs of some sections.

    A pattern ``"x"`` takes exactly section ``x``; ``"x/"`` takes ``x/...``
    and hands the rest to ``call``. ``fixed`` are keywords the section itself
    gives (``tc/ingress`` gives ``direction``).
    """

    patterns: tuple[str, ...]
    method: str
    call: Call
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def match(self, section: str) -> str | None:
        """The rest of ``section`` after the pattern it matches, or None."""
        for pattern in self.patterns:
            if pattern.endswith("/"):
                if section.startswith(pattern) and len(section) > len(pattern):
                    return section[len(pattern) :]
            elif section == pattern:
                return ""
        return None


def _tracepoint(program: Program, rest: str, target: Mapping[str, Any]) -> Link:
    group, _, name = rest.partition("/")
    if not group or not name:
        raise ValueError(
            f"attach {program._describe()}: section '{program.section}' names no"
            " tracepoint GROUP/NAME: call attach_tracepoint(group, name) instead"
        )
    return program.attach_tracepoint(group, name)


def _tc(program: Program, target: Mapping[str, Any]) -> Link:
    """tcx where the kernel has it (6.6), a netlink cls_bpf filter before."""
    if features.has_links("tcx"):
        return program.attach_tcx(target["iface"], target["direction"])
    return program.attach_tc(target["iface"], target["direction"])


def _probe_target(program: Program, rest: str) -> tuple[str, int]:
    """``FUNC`` or ``FUNC+OFFSET`` of a kprobe section, as libbpf reads it."""
    symbol, plus, offset = rest.partition("+")
    if not symbol or (plus and not offset):
        raise ValueError(
            f"attach {program._describe()}: section '{program.section}' names no"
            " FUNC[+OFFSET]: call attach_kprobe(symbol) instead"
        )
    try:
        return symbol, int(offset, 0) if plus else 0
    except ValueError:
        raise ValueError(
            f"attach {program._describe()}: section '{program.section}': offset"
            f" {offset!r} is not a number"
        ) from None


def _kprobe(retprobe: bool) -> Call:
    def call(program: Program, rest: str, _: Mapping[str, Any]) -> Link:
        symbol, offset = _probe_target(program, rest)
        return program.attach_kprobe(symbol, retprobe=retprobe, offset=offset)

    return call


def _ksyscall(retprobe: bool) -> Call:
    """``ksyscall/NAME``: a kprobe on the syscall's entry point, as libbpf:
    ``__<arch>_sys_NAME`` where the kernel has syscall wrappers, else ``sys_NAME``."""

    def call(program: Program, rest: str, _: Mapping[str, Any]) -> Link:
        prefix = features.syscall_prefix()
        wrapped = features.has_syscall_wrapper() and prefix is not None
        symbol = f"__{prefix}_sys_{rest}" if wrapped else f"sys_{rest}"
        return program.attach_kprobe(symbol, retprobe=retprobe)

    return call


def _uprobe(retprobe: bool) -> Call:
    """``uprobe/PATH:FUNC[+OFFSET]`` (the last ':' splits; PATH may be a bare
    library name), as libbpf reads it."""

    def call(program: Program, rest: str, target: Mapping[str, Any]) -> Link:
        path, colon, func = rest.rpartition(":")
        symbol, plus, offset = func.partition("+")
        if not colon or not path or not symbol:
            raise ValueError(
                f"attach {program._describe()}: section '{program.section}' names no"
                " PATH:FUNC[+OFFSET]: call attach_uprobe(path, symbol) instead"
            )
        try:
            off = int(offset, 0) if plus else 0
        except ValueError:
            raise ValueError(
                f"attach {program._describe()}: section '{program.section}': offset"
                f" {offset!r} is not a number"
            ) from None
        return program.attach_uprobe(
            path, symbol, offset=off, pid=target.get("pid"), retprobe=retprobe
        )

    return call


def _usdt(program: Program, rest: str, target: Mapping[str, Any]) -> Link:
    """``usdt/PATH:PROVIDER:NAME`` (the last two ':' split), as libbpf reads it."""
    path, provider, name = ([""] * 2 + rest.rsplit(":", 2))[-3:]
    if not path or not provider or not name:
        raise ValueError(
            f"attach {program._describe()}: section '{program.section}' names no"
            " PATH:PROVIDER:NAME: call attach_usdt(path, provider, name) instead"
        )
    return program.attach_usdt(
        path, provider, name, pid=target.get("pid"), cookie=target.get("cookie", 0)
    )


_SLEEPABLE_TRACING = ("fentry.s/", "fexit.s/", "fmod_ret.s/", "lsm.s/")

# The rows: libbpf's auto-attaching SEC_DEFs, plus the hooks that need a
# target (libbpf leaves those to the caller). First match wins.
RULES: list[Rule] = [
    Rule(("tracepoint/", "tp/"), "attach_tracepoint", _tracepoint),
    Rule(
        ("raw_tracepoint/", "raw_tp/", "raw_tracepoint.w/", "raw_tp.w/"),
        "attach_raw_tracepoint",
        lambda p, rest, _: p.attach_raw_tracepoint(rest),
    ),
    Rule(
        ("xdp", "xdp.frags"),
        "attach_xdp",
        lambda p, _, t: p.attach_xdp(t["iface"], mode=t.get("mode")),
        required=("iface",),
        optional=("mode",),
    ),
    Rule(
        ("tcx/ingress",),
        "attach_tcx",
        lambda p, _, t: p.attach_tcx(t["iface"], t["direction"]),
        required=("iface",),
        fixed={"direction": "ingress"},
    ),
    Rule(
        ("tcx/egress",),
        "attach_tcx",
        lambda p, _, t: p.attach_tcx(t["iface"], t["direction"]),
        required=("iface",),
        fixed={"direction": "egress"},
    ),
    Rule(
        ("tc/ingress",),
        "attach_tcx",
        lambda p, _, t: _tc(p, t),
        required=("iface",),
        fixed={"direction": "ingress"},
    ),
    Rule(
        ("tc/egress",),
        "attach_tcx",
        lambda p, _, t: _tc(p, t),
        required=("iface",),
        fixed={"direction": "egress"},
    ),
    # A bare tc program names no direction: tcx (6.6), a netlink filter before.
    Rule(
        ("tc", "classifier"),
        "attach_tcx",
        lambda p, _, t: _tc(p, t),
        required=("iface", "direction"),
    ),
    Rule(("kprobe/",), "attach_kprobe", _kprobe(False)),
    Rule(("kretprobe/",), "attach_kprobe", _kprobe(True)),
    Rule(("ksyscall/",), "attach_kprobe", _ksyscall(False)),
    Rule(("kretsyscall/",), "attach_kprobe", _ksyscall(True)),
    Rule(("uprobe/", "uprobe.s/"), "attach_uprobe", _uprobe(False), optional=("pid",)),
    Rule(("uretprobe/", "uretprobe.s/"), "attach_uprobe", _uprobe(True), optional=("pid",)),
    Rule(
        ("fentry/", "fexit/", "fmod_ret/", "tp_btf/", "lsm/", *_SLEEPABLE_TRACING),
        "attach_tracing",
        lambda p, _, t: p.attach_tracing(),
    ),
    Rule(
        ("iter/", "iter.s/"),
        "attach_iter",
        lambda p, _, t: p.attach_iter(map=t.get("map"), pid=t.get("pid")),
        optional=("map", "pid"),
    ),
    Rule(
        ("cgroup/", "cgroup_skb/", "sockops"),
        "attach_cgroup",
        lambda p, _, t: p.attach_cgroup(t["cgroup"], t.get("attach_type")),
        required=("cgroup",),
        optional=("attach_type",),
    ),
    Rule(("usdt/", "usdt.s/"), "attach_usdt", _usdt, optional=("pid", "cookie")),
]

# What to call instead, by program type, when no row takes the section.
_CGROUP = "attach_cgroup(cgroup)"
_INSTEAD: dict[ProgType, str] = {
    ProgType.TRACEPOINT: "attach_tracepoint(group, name)",
    ProgType.RAW_TRACEPOINT: "attach_raw_tracepoint(name)",
    ProgType.RAW_TRACEPOINT_WRITABLE: "attach_raw_tracepoint(name)",
    ProgType.XDP: "attach_xdp(iface)",
    ProgType.SCHED_CLS: "attach_tcx(iface, direction)",
    ProgType.SCHED_ACT: "attach_tcx(iface, direction)",
    ProgType.KPROBE: "attach_kprobe(symbol) or attach_uprobe(path, symbol)",
    ProgType.TRACING: "attach_tracing() (attach_iter() for iter/ programs)",
    ProgType.LSM: "attach_tracing()",
    ProgType.CGROUP_SKB: _CGROUP,
    ProgType.CGROUP_SOCK: _CGROUP,
    ProgType.CGROUP_DEVICE: _CGROUP,
    ProgType.CGROUP_SOCK_ADDR: _CGROUP,
    ProgType.CGROUP_SYSCTL: _CGROUP,
    ProgType.CGROUP_SOCKOPT: _CGROUP,
    ProgType.SOCK_OPS: _CGROUP,
}
_IN_A_MAP = {
    AttachType.XDP_DEVMAP: "put it into a DEVMAP entry instead",
    AttachType.XDP_CPUMAP: "put it into a CPUMAP entry instead",
}


def find_rule(program: Program) -> tuple[Rule, str]:
    """The row that attaches ``program`` and the rest of its section.

    Raises:
        ValueError: the program has no section (opened by id, pin or fd), or
            no row takes its section (naming the attach_* method to call).
    """
    section = program.section.removeprefix("?")
    what = f"attach {program._describe()}"
    if not section:
        raise ValueError(
            f"{what}: no section name is known (the program was not loaded from an"
            " object here): call its attach_* method instead"
        )
    for rule in RULES:
        rest = rule.match(section)
        if rest is not None:
            return rule, rest
    fix = _IN_A_MAP.get(program._attach_type) if program._attach_type is not None else None
    if fix is None:
        method = _INSTEAD.get(program.type) if isinstance(program.type, ProgType) else None
        fix = (
            f"call {method} instead"
            if method
            else f"bpfnest has no attach_* method for {_type(program)} programs"
        )
    raise ValueError(f"{what}: section '{program.section}' cannot be attached by attach(); {fix}")


def _type(program: Program) -> str:
    return program.type.name if isinstance(program.type, ProgType) else f"type {program.type}"


def check_target(program: Program, target: Mapping[str, Any]) -> tuple[Rule, str]:
    """The row and section rest for ``program``, once ``target``'s keywords fit it.

    Raises:
        ValueError: as :func:`find_rule`.
        TypeError: a keyword the row does not take, or one it needs is missing.
    """
    rule, _rest = found = find_rule(program)
    what = f"attach {program._describe()} (section '{program.section}', {rule.method})"
    allowed = rule.required + rule.optional
    unexpected = sorted(set(target) - set(allowed))
    if unexpected:
        takes = ", ".join(f"{k}=" for k in allowed) if allowed else "no keywords"
        raise TypeError(
            f"{what}: unexpected keyword {', '.join(f'{k}=' for k in unexpected)}; it takes {takes}"
        )
    missing = [k for k in rule.required if k not in target]
    if missing:
        raise TypeError(f"{what}: needs {', '.join(f'{k}=' for k in missing)}")
    return found


def auto_attach(program: Program, target: Mapping[str, Any]) -> Link:
    """Attach ``program`` by its section name; see ``Program.attach``."""
    rule, rest = check_target(program, target)
    return rule.call(program, rest, {**target, **rule.fixed})
