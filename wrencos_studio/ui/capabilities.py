"""What a window may do: the studio and a staff station differ only in these."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATION", "STUDIO", "Capabilities"]


@dataclass(frozen=True)
class Capabilities:
    """The window builds and enables its panels from this, never from where the hub runs."""

    #: A camera preview, the source pickers and Go Live / End.
    can_broadcast: bool
    #: Pin, unpin and reorder products for customers (``pin_products`` is admin-only).
    can_pin: bool
    #: Add, edit, delete and import catalog products (images are stored on this machine).
    can_manage_catalog: bool
    #: Delete chat lines, mute or ban their authors, slow mode.
    can_moderate: bool
    #: The settings dialog (port, ICE servers, video quality: this machine's studio).
    can_edit_settings: bool


STUDIO = Capabilities(
    can_broadcast=True,
    can_pin=True,
    can_manage_catalog=True,
    can_moderate=True,
    can_edit_settings=True,
)

#: A staff station answers customers and moderates; it neither broadcasts nor runs the shop.
STATION = Capabilities(
    can_broadcast=False,
    can_pin=False,
    can_manage_catalog=False,
    can_moderate=True,
    can_edit_settings=False,
)
