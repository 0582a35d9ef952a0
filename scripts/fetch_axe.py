"""Put axe-core into tests/vendor/axe-core so the site tests check pages with a pinned version.

axe-playwright-python bundles an older axe-core (4.12.1); the site tests inject this one
instead (issue 8 measured with axe-core 4.14). The npm registry tarball is downloaded once,
checked against its pinned SHA-512 (the registry's ``dist.integrity``), and only axe.min.js and
the licence are unpacked. The files are a build artefact: fetched when missing, never committed.
Usage: python scripts/fetch_axe.py   (does nothing when the files are already there)
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
SHA512 = "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
TARGET = Path(__file__).resolve().parent.parent / "tests" / "vendor" / "axe-core"
SCRIPT = TARGET / "axe.min.js"
WANTED = ("package/axe.min.js", "package/LICENSE")


def fetch() -> Path:
    """Return the path of axe.min.js, downloading and checking it first when it is missing."""
    version = TARGET / "VERSION"
    if SCRIPT.is_file() and version.is_file() and version.read_text() == VERSION:
        return SCRIPT
    with urllib.request.urlopen(URL, timeout=60) as response:
        payload = response.read()
    digest = base64.b64encode(hashlib.sha512(payload).digest()).decode()
    if digest != SHA512:
        raise RuntimeError(f"axe-core {VERSION}: checksum mismatch for {URL}")
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
        for name in WANTED:
            member = archive.getmember(name)
            destination = TARGET / name.removeprefix("package/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.extractfile(member).read())
    version.write_text(VERSION)
    return SCRIPT


def main() -> int:
    try:
        fetch()
    except (OSError, RuntimeError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
