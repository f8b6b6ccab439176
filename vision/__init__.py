"""Pixels to facts: camera sources, QR decoding, faces. Knows nothing of permits."""
