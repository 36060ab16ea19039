"""The studio's dialogs: a product's details, the studio's settings."""

from wrencos_studio.ui.dialogs.product import ProductDialog
from wrencos_studio.ui.dialogs.settings import SettingsDialog

__all__ = ["ProductDialog", "SettingsDialog"]
