"""The wire protocol, sans I/O: client -> server (``inbound``) and server -> client
(``outbound``) messages, each type one typed definition with its validation or encoding.

``from wrencos_studio.hub import protocol as p`` gives both: ``p.decode`` / ``p.MESSAGES``
and the request classes for what clients send, ``p.encode`` / ``p.OUTBOUND`` and the
message classes for what the hub sends.
"""

from wrencos_studio.hub.protocol.inbound import *  # noqa: F403
from wrencos_studio.hub.protocol.inbound import __all__ as _inbound_all
from wrencos_studio.hub.protocol.outbound import *  # noqa: F403
from wrencos_studio.hub.protocol.outbound import __all__ as _outbound_all

__all__ = [*_inbound_all, *_outbound_all]
