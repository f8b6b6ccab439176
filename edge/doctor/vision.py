"""Vision family: the QR decoder reads a code, and the face models load when faces are on."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import cv2
import numpy as np
import segno

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn
from vision.qr import make_decoder

PROBE_TEXT = "GRIDGATE-DOCTOR-PROBE"


def probe_image() -> np.ndarray:
    """A QR code image as a camera would see it (BGR)."""
    buffer = io.BytesIO()
    segno.make(PROBE_TEXT, error="m").save(buffer, kind="png", scale=6, border=4)
    image = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    if image is None:  # an OpenCV built without PNG: the install is broken (check_qr says so)
        raise OSError("OpenCV cannot decode a PNG image")
    return image


def check_qr(name: str) -> Finding:
    """The configured decoder loads and reads a known code."""
    check = f"vision.qr.{name}"
    try:
        decoder = make_decoder(name)
        image = probe_image()
        started = time.perf_counter()
        texts = [code.text for code in decoder.decode(image)]
        elapsed = (time.perf_counter() - started) * 1000
    except (ImportError, OSError) as exc:
        fix = ("install ZBar: sudo apt-get install libzbar0" if name == "pyzbar" else
               "reinstall the program: sudo ./install.sh")
        return fail(check, f"the {name} QR decoder does not load: {exc}",
                    f"{fix}; or set vision.qr_decoder to the other decoder")
    if texts != [PROBE_TEXT]:
        return fail(check, f"the {name} QR decoder did not read a test code (got {texts})",
                    "set vision.qr_decoder to the other decoder and report this")
    return ok(check, f"the {name} QR decoder reads a test code in {elapsed:.1f} ms")


def check_faces() -> Finding:
    """The face detector and encoder models load and run once."""
    try:
        started = time.perf_counter()
        from vision.faces.detect import FaceDetector
        from vision.faces.encode import FaceEncoder, encode_chip, encoder_engine

        FaceEncoder()
        FaceDetector().detect(np.zeros((240, 320), np.uint8))
        loaded = time.perf_counter() - started
        encoding = encode_chip(np.zeros((150, 150, 3), np.uint8))
        engine = encoder_engine()
    except (ImportError, OSError, RuntimeError) as exc:
        return fail("vision.faces", f"the face models do not load: {exc}",
                    "reinstall the program (sudo ./install.sh installs dlib-bin and "
                    "face_recognition_models), or set faces.enabled = false")
    if len(encoding) != 128:
        return fail("vision.faces", f"the face encoder gave {len(encoding)} numbers, not 128",
                    "reinstall face_recognition_models (sudo ./install.sh)")
    if engine != "numpy":
        return warn("vision.faces", "face encodings fall back to dlib's own code (about ten "
                    "times slower than the numpy engine); the log says why",
                    "reinstall face_recognition_models (sudo ./install.sh), or set "
                    "faces.encode_workers = 1 to overlap the two votes of a face")
    return ok("vision.faces", f"face detector and encoder models load in {loaded:.1f} s; "
              "encodings on numpy's BLAS")


def check(context: DoctorContext) -> Iterator[Finding]:
    """QR decoding always; faces when enabled."""
    if context.settings is None:
        return
    yield check_qr(context.settings.vision.qr_decoder)
    if context.settings.faces.enabled:
        context.say("loading the face detector and encoder models (a few seconds)")
        yield check_faces()
    else:
        yield ok("vision.faces", "faces are off (faces.enabled = false): passes only")
