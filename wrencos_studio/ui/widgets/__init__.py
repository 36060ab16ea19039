"""Small widgets of the studio window: the preview, the viewers chart, the reply box, a
past show's replay actions, the chat's view, a label for ticking figures."""

from wrencos_studio.ui.widgets.preview import PreviewView
from wrencos_studio.ui.widgets.replay_actions import ReplayActions
from wrencos_studio.ui.widgets.reply_box import ReplyBox
from wrencos_studio.ui.widgets.sparkline import Sparkline
from wrencos_studio.ui.widgets.steady_label import SteadyLabel

__all__ = ["PreviewView", "ReplayActions", "ReplyBox", "Sparkline", "SteadyLabel"]
