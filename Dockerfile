# The IOC image: hub, edge worker and relay share it (`ioc hub`, `ioc edge`, `ioc relay`).
FROM python:3.11-slim-bookworm

# libGL/glib: opencv-python (pulled in by supervision and rapidocr); ffmpeg: RTSP tools
# used by the edge; fonts: evidence PDFs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 ffmpeg fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ioc ioc
COPY video video
COPY analytics analytics
COPY edge edge
COPY conferencing conferencing
COPY web web
RUN pip install --no-cache-dir .

# Never run as root; data (evidence, edge outbox, models) lives on a volume.
RUN useradd --system --create-home --uid 10001 ioc && mkdir -p /data && chown ioc /data
USER ioc
ENV IOC_DATA_DIR=/data IOC_HOST=0.0.0.0 IOC_PORT=8000 PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

ENTRYPOINT ["ioc"]
CMD ["hub"]
