# Every application image, one build target per docker-compose.yml service, from the repository root:
#   docker build --target api -t deliverer-api .
# Targets: api, live, subscriber, publisher and the one-shots mqtt-auth, mqtt-certs and store-migrate carry
# the core dependencies (requirements/core.txt); exporter adds the lake tools (Spark, pyarrow, DuckDB,
# boto3: requirements/lake.txt) and Java. Dependencies come from the lock files with their hashes
# (scripts/lock.sh writes them), before the source, so a source change does not reinstall them.

# The tag names the release; the digest is the one build of it the images were made from (the tag
# itself moves with every Debian update).
FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The images run as USER 10001:10001, by number so that an orchestrator can tell it is not root.
RUN groupadd --system --gid 10001 deliverer \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/deliverer deliverer

FROM base AS core
COPY requirements/core.txt /tmp/requirements.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements.txt

# The project as a wheel, built once with the locked setuptools; only the wheel reaches the images.
FROM core AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deliverer ./deliverer
COPY deliverer_cli ./deliverer_cli
COPY subscriber ./subscriber
COPY app_api ./app_api
COPY publisher ./publisher
COPY spark_jobs ./spark_jobs
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# One console script serves every service (deliverer subscribe|api|publish|export ...).
FROM core AS service
COPY --from=wheel /wheels /wheels
RUN pip install --no-deps /wheels/*.whl
USER 10001:10001
WORKDIR /home/deliverer
ENTRYPOINT ["deliverer"]

FROM service AS api
EXPOSE 8000
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

# Order streams and tracking pages (deliverer live): the API's code and dependencies, its own port.
FROM service AS live
EXPOSE 8001
CMD ["live", "--host", "0.0.0.0", "--live-port", "8001"]

FROM service AS subscriber
CMD ["subscribe"]

FROM service AS publisher
CMD ["publish"]

FROM service AS mqtt-auth
CMD ["broker-accounts", "/mosquitto/auth"]

FROM service AS mqtt-certs
CMD ["broker-certs", "/mosquitto/certs"]

FROM service AS store-migrate
CMD ["store", "migrate"]

FROM base AS exporter
# Spark runs on a JVM: Java 17, as on the development machines. The man directory is missing from
# slim images and the JRE package fails to install without it. Debian's mirror keeps only the
# newest build of a package, so a pinned JRE version would stop building at its next security
# update: the image gets bookworm's current Java 17.
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/lake.txt /tmp/requirements.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements.txt
COPY --from=wheel /wheels /wheels
RUN pip install --no-deps /wheels/*.whl
USER 10001:10001
WORKDIR /home/deliverer
ENTRYPOINT ["deliverer"]
CMD ["export", "--every", "15m"]
