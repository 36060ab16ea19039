"""The hub's features, one module each: handlers, events and persistence side by side.

To add a message type: its definition in ``hub/protocol/inbound.py`` (and any reply in
``outbound.py``), a ``@handles`` method in the feature it belongs to (or a new feature
listed here), a store function if it persists, and its section in ``docs/protocol.md``.
The engine refuses to start if a type has no handler or two.
"""

from wrencos_studio.hub.features.catalog import Catalog
from wrencos_studio.hub.features.chat import Chat
from wrencos_studio.hub.features.customers import Customers
from wrencos_studio.hub.features.likes import Likes
from wrencos_studio.hub.features.moderation import Moderation
from wrencos_studio.hub.features.page import Page
from wrencos_studio.hub.features.registration import Registration
from wrencos_studio.hub.features.signalling import Signalling
from wrencos_studio.hub.features.stream import Stream
from wrencos_studio.hub.features.support import Support
from wrencos_studio.hub.features.timeline import Timeline

__all__ = [
    "FEATURES",
    "Catalog",
    "Chat",
    "Customers",
    "Likes",
    "Moderation",
    "Page",
    "Registration",
    "Signalling",
    "Stream",
    "Support",
    "Timeline",
]

#: In the order they load and join other hubs (the stream before what belongs to it).
FEATURES = (
    Registration,
    Stream,
    Likes,
    Chat,
    Moderation,
    Support,
    Customers,
    Catalog,
    Signalling,
    Page,
    Timeline,
)
