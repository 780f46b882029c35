# The raw2ready worker image: what every Kubernetes job runs (profiles/kubernetes), built from
# the project's own files. rasterio's wheel carries GDAL, so no system GDAL is needed.
#   docker build -t <registry>/raw2ready:0.1.0 . && docker push <registry>/raw2ready:0.1.0
# Snakemake itself runs in each job pod (`python -m snakemake ...`), with the S3 storage plugin
# that moves its inputs and outputs; the workflow's sources come from the default storage.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/raw2ready
# Dependencies first (pinned in pyproject.toml), so code edits do not reinstall them.
COPY pyproject.toml README.md ./
COPY src/raw2ready/__init__.py src/raw2ready/__init__.py
RUN pip install ".[workflow,hpc]" && pip uninstall --yes raw2ready
# Then the package and the workflow (Snakefile, rules, envs, config, profiles).
COPY src ./src
COPY Snakefile ./
COPY rules ./rules
COPY envs ./envs
COPY config ./config
COPY profiles ./profiles
RUN pip install --no-deps . \
    && raw2ready --version \
    && python -m snakemake --version

# Jobs run as an unprivileged user in the pod's /workdir (an emptyDir the executor mounts).
RUN useradd --create-home --uid 10001 raw2ready
USER raw2ready
WORKDIR /workdir
CMD ["raw2ready", "--help"]
