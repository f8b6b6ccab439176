"""QR decoding behind one interface, with zxing-cpp and pyzbar implementations."""

from vision.qr.base import QrDecoder, make_decoder

__all__ = ["QrDecoder", "make_decoder"]
