"""Put MathJax 3 into _static/vendor/mathjax so the site renders formulas without a CDN.

The book's pages must not make readers' browsers contact third parties (no request leaves
the site), so MathJax is served with the book. The npm registry tarball is downloaded once,
checked against its pinned SHA-512, and only the files the site needs are unpacked.
Usage: python scripts/fetch_mathjax.py   (does nothing when the files are already there)
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "3.2.2"
URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{VERSION}.tgz"
SHA512 = "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
TARGET = Path(__file__).resolve().parent.parent / "_static" / "vendor" / "mathjax"
WANTED = ("package/es5/tex-mml-chtml.js", "package/es5/output/chtml/fonts/woff-v2/")


def main() -> int:
    if (TARGET / "tex-mml-chtml.js").exists() and (TARGET / "VERSION").read_text() == VERSION:
        return 0
    with urllib.request.urlopen(URL, timeout=60) as response:
        payload = response.read()
    digest = base64.b64encode(hashlib.sha512(payload).digest()).decode()
    if digest != SHA512:
        print(f"MathJax {VERSION}: checksum mismatch for {URL}", file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith(WANTED):
                relative = member.name.removeprefix("package/es5/")
                destination = TARGET / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(archive.extractfile(member).read())
    (TARGET / "VERSION").write_text(VERSION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
