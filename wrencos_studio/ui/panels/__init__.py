"""The window's panels, one module each: a thin view over an item model and the bridge."""

from wrencos_studio.ui.panels.audience import AudiencePanel
from wrencos_studio.ui.panels.broadcast import BroadcastPanel
from wrencos_studio.ui.panels.chat import ChatPanel
from wrencos_studio.ui.panels.inbox import InboxPanel
from wrencos_studio.ui.panels.products import ProductsPanel
from wrencos_studio.ui.panels.share import SharePanel

__all__ = [
    "AudiencePanel",
    "BroadcastPanel",
    "ChatPanel",
    "InboxPanel",
    "ProductsPanel",
    "SharePanel",
]
