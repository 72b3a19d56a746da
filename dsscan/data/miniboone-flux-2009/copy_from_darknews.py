"""Re-copy MiniBooNE_FHC.dat from an installed DarkNews and check it is the file this folder documents.

Run:  python dsscan/data/miniboone-flux-2009/copy_from_darknews.py   (needs DarkNews, the dev extra)
"""
from __future__ import annotations

import hashlib
import pathlib
from importlib import resources

SHA256 = "6eeb7ec56449223daaa4ede943cfee780e320b35594fb3dea502973d792c4e99"  # see README.md
NAME = "MiniBooNE_FHC.dat"


def main() -> None:
    data = resources.files("DarkNews.include.fluxes").joinpath(NAME).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"DarkNews's {NAME} has sha256 {digest}, not the documented {SHA256}: update README.md first")
    (pathlib.Path(__file__).parent / NAME).write_bytes(data)


if __name__ == "__main__":
    main()
