"""Media: sources, encode-once fan-out, WebRTC peers and fallback delivery. No Qt."""
