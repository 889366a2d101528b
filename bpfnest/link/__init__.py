"""Links: programs attached to hooks (issue 14).

:class:`Link` is the attachment (a :class:`~bpfnest._object.KernelObject`);
one small module per hook makes them: ``_xdp``, ``_tcx``, ``_cgroup``,
``_tracepoint``, ``_tc``, ``_probe`` (kprobes, uprobes), ``_tracing`` (fentry,
tp_btf, lsm...), ``_iter``, ``_struct_ops`` (STRUCT_OPS maps), ``_usdt`` (USDT
probes). Attachments the kernel makes no link for (netlink XDP, tc, cgroup
``BPF_PROG_ATTACH``, perf-event ioctl) are
:class:`LegacyLink` objects (``_legacy``). ``Program.attach_*`` call these.
"""

from ._cgroup import attach_cgroup
from ._iter import attach_iter
from ._legacy import LegacyLink, LegacyLinkInfo
from ._link import Link, LinkInfo, link_ids
from ._probe import attach_kprobe, attach_uprobe
from ._struct_ops import StructOpsRegistration, attach_struct_ops
from ._tc import attach_tc
from ._tcx import attach_tcx
from ._tracepoint import attach_raw_tracepoint, attach_tracepoint
from ._tracing import attach_tracing
from ._usdt import attach_usdt
from ._xdp import attach_xdp

__all__ = [
    "LegacyLink",
    "LegacyLinkInfo",
    "Link",
    "LinkInfo",
    "attach_cgroup",
    "attach_kprobe",
    "attach_raw_tracepoint",
    "attach_tc",
    "attach_tcx",
    "attach_tracepoint",
    "attach_uprobe",
    "attach_xdp",
    "link_ids",
    "attach_iter",
    "attach_tracing",
    "StructOpsRegistration",
    "attach_struct_ops",
    "attach_usdt",
]
