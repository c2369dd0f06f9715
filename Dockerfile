# cdp services image: one image, one service per container (`cdp collector`, `cdp processor`,
# `cdp relay`, `cdp api`, `cdp scheduler`, `cdp activation`; `cdp init` migrates and creates topics).
# Build: docker build -t cdp:dev .   Run: see deploy/docker-compose.yml and deploy/kubernetes/.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY cdp ./cdp
COPY ingest ./ingest
COPY identity ./identity
COPY profiles ./profiles
COPY activation ./activation
COPY schemas ./schemas
RUN python -m pip install --no-cache-dir --upgrade pip \
 && python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cdp
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER cdp
WORKDIR /home/cdp
ENV CDP_ENVIRONMENT=production \
    CDP_COLLECTOR_HOST=0.0.0.0 \
    CDP_API_HOST=0.0.0.0 \
    CDP_METRICS_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 8088 8089 9100
ENTRYPOINT ["cdp"]
CMD ["--help"]
