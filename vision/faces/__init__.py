"""Faces: detection, encodings, the gallery, open-set identification, tracking, liveness.

Modules that need dlib's models (detect, encode, watch) load them on first use; the gallery
and the identification rule do not, so the platform sync can use them cheaply.
"""
