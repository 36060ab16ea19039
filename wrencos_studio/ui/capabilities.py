"""What a window may do: the studio and a staff station differ only in these."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATION", "STATION_ADMIN", "STUDIO", "Capabilities", "station_capabilities"]


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

#: A station with an ``admin`` token may also pin products (``pin_products`` is admin-only);
#: the catalog is still edited on the studio's machine, where its images are stored.
STATION_ADMIN = Capabilities(
    can_broadcast=False,
    can_pin=True,
    can_manage_catalog=False,
    can_moderate=True,
    can_edit_settings=False,
)


def station_capabilities(role: str | None) -> Capabilities:
    """What a station offers for its token's ``role`` (docs/protocol.md §3.1): pinning
    for ``admin``; anything else gets the staff set (the studio refuses the rest)."""
    return STATION_ADMIN if role == "admin" else STATION
