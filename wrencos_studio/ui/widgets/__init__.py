"""Small widgets of the studio window: the preview, the viewers chart, the reply box."""

from wrencos_studio.ui.widgets.preview import PreviewView
from wrencos_studio.ui.widgets.reply_box import ReplyBox
from wrencos_studio.ui.widgets.sparkline import Sparkline

__all__ = ["PreviewView", "ReplyBox", "Sparkline"]
