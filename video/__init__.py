"""Pixels in motion: sources with reconnect and watchdog, frame ring buffer, clip writer, snapshots, previews."""
