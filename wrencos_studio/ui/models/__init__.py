"""Qt item models of what the panels show, apart from the widgets (each testable alone)."""

from wrencos_studio.ui.models.audience import ViewersModel
from wrencos_studio.ui.models.chat import ChatModel
from wrencos_studio.ui.models.conversations import (
    ConversationFilter,
    ConversationsModel,
    ThreadModel,
)
from wrencos_studio.ui.models.products import CatalogModel, PinnedModel

__all__ = [
    "CatalogModel",
    "ChatModel",
    "ConversationFilter",
    "ConversationsModel",
    "PinnedModel",
    "ThreadModel",
    "ViewersModel",
]
