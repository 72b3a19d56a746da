"""Rebuild the shipped kernel tables g2_loop.npz and kmunuS.npz (about a minute on 2 cores).

Run:  python dsscan/data/kernel-tables/build.py
"""
import pathlib
import time

from dsscan.physics import tables

if __name__ == "__main__":
    here = pathlib.Path(__file__).parent
    for name, build in (("g2_loop", tables.build_g2_loop), ("kmunuS", tables.build_kmunuS)):
        start = time.perf_counter()
        tables.save(build(), here / f"{name}.npz")
        print(f"{name}: built in {time.perf_counter() - start:.1f} s")
