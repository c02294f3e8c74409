"""The WebRTC relay: rooms, participants, forwarding without re-encoding, cascade, signalling, join tokens."""
