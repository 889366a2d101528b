"""Links: programs attached to hooks (issue 14).

:class:`Link` is the attachment (a :class:`~bpfnest._object.KernelObject`);
one small module per hook makes them: ``_xdp``, ``_tcx``, ``_cgroup``,
``_tracepoint``, ``_probe`` (kprobes, uprobes), ``_tracing`` (fentry, tp_btf,
lsm...), ``_iter``. ``Program.attach_*`` call these.
"""

from ._cgroup import attach_cgroup
from ._iter import attach_iter
from ._link import Link, LinkInfo, link_ids
from ._probe import attach_kprobe, attach_uprobe
from ._tcx import attach_tcx
from ._tracepoint import attach_raw_tracepoint, attach_tracepoint
from ._tracing import attach_tracing
from ._xdp import attach_xdp

__all__ = [
    "Link",
    "LinkInfo",
    "attach_cgroup",
    "attach_kprobe",
    "attach_raw_tracepoint",
    "attach_tcx",
    "attach_tracepoint",
    "attach_uprobe",
    "attach_xdp",
    "link_ids",
    "attach_iter",
    "attach_tracing",
]
