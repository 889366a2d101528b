"""Links: programs attached to hooks (issue 14).

:class:`Link` is the attachment (a :class:`~bpfnest._object.KernelObject`);
one small module per hook makes them: ``_xdp``, ``_tcx``, ``_cgroup``,
``_tracepoint``, ``_tc``. Attachments the kernel makes no link for (netlink
XDP, tc, cgroup ``BPF_PROG_ATTACH``, perf-event ioctl) are
:class:`LegacyLink` objects (``_legacy``). ``Program.attach_*`` call these.
"""

from ._cgroup import attach_cgroup
from ._legacy import LegacyLink, LegacyLinkInfo
from ._link import Link, LinkInfo, link_ids
from ._tc import attach_tc
from ._tcx import attach_tcx
from ._tracepoint import attach_raw_tracepoint, attach_tracepoint
from ._xdp import attach_xdp

__all__ = [
    "LegacyLink",
    "LegacyLinkInfo",
    "Link",
    "LinkInfo",
    "attach_cgroup",
    "attach_raw_tracepoint",
    "attach_tc",
    "attach_tcx",
    "attach_tracepoint",
    "attach_xdp",
    "link_ids",
]
