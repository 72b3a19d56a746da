# The dsscan image for Ray clusters on Kubernetes (k8s/): Python 3.11, dsscan with Ray, and the
# two caches a worker would otherwise build when it starts (the upscattering tables, about a
# minute of one core, and the compiled kernels and sampler, about 20 s) built here, so workers start warm.
#
#   docker build -t dsscan:0.8.0 .
#   docker tag dsscan:0.8.0 registry.example.com/dsscan:0.8.0 && docker push registry.example.com/dsscan:0.8.0
#   kind load docker-image dsscan:0.8.0          # a kind cluster instead of a registry
#
# Not built on the project's CI machines (no container engine there): tests/test_image.py runs
# the install and warm-up steps below in a fresh virtual environment instead.
FROM python:3.11-slim

# The Ray version of the cluster: KubeRay's rayVersion in k8s/ names the same one.
ARG RAY_VERSION=2.60.0
ENV DSSCAN_CACHE_DIR=/opt/dsscan/cache \
    NUMBA_CACHE_DIR=/opt/dsscan/cache/numba \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# Ray's own images run as user "ray" (uid 1000); the caches are its, since numba writes to its
# cache directory when a node's CPU differs from the build machine's.
RUN useradd --uid 1000 --create-home ray && mkdir -p /opt/dsscan/cache && chown ray /opt/dsscan/cache

WORKDIR /opt/dsscan/src
COPY pyproject.toml README.md ./
COPY dsscan/ dsscan/
COPY services/ services/
COPY lake/ lake/
COPY streamlit_app/ streamlit_app/
COPY k8s/warm-up.sh /opt/dsscan/warm-up.sh
RUN pip install ".[cloud]" "ray[default]==${RAY_VERSION}"

USER ray
WORKDIR /home/ray
RUN sh /opt/dsscan/warm-up.sh
