#!/bin/sh
# Warm-up of the dsscan image (Dockerfile), run once at build time so that workers start warm:
# the upscattering tables built into $DSSCAN_CACHE_DIR, and the kernels (all points and kept
# points) and the uniform sampler compiled into $NUMBA_CACHE_DIR by the same warm-up a scan's
# workers run (every constraint set runs the same compiled code). tests/test_image.py runs this
# script too.
set -eu
dsscan tables build
python -c "from services.engine import warm_up; warm_up('datta2024')"
echo "warm: tables in $DSSCAN_CACHE_DIR, kernels in $NUMBA_CACHE_DIR"
