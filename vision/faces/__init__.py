"""Faces: detection, encodings, the encoding index, open-set identification, tracking, liveness.

Modules that need dlib's models (detect, encode, watch) load them on first use; the index and
the identification rule do not. The enrolled encodings themselves are roster data and live in
the domain (`gate.faces`), which searches them through `index`.
"""
