"""The addresses customers can open this studio at (its LAN addresses)."""

from __future__ import annotations

__all__ = ["customer_urls"]


def customer_urls(host: str, port: int) -> list[str]:
    """The addresses customers can open: every LAN IPv4 address when listening on all."""
    if host not in ("0.0.0.0", "::", ""):
        return [f"http://{host}:{port}/"]
    try:
        import ifaddr

        addresses = [
            ip.ip
            for adapter in ifaddr.get_adapters()
            for ip in adapter.ips
            if isinstance(ip.ip, str) and not ip.ip.startswith(("127.", "169.254."))
        ]
    except Exception:
        addresses = []
    return [f"http://{a}:{port}/" for a in addresses] or [f"http://localhost:{port}/"]
