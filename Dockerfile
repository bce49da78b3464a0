# lossd container image.
#
#   docker build -t lossd .
#   docker run --rm -p 50051:50051 -p 9090:9090 --read-only lossd
#
# Two stages on Debian bookworm-slim: `build` compiles lossd and lossctl with
# the project's own CMake (whose configure step also wants Google Benchmark,
# though no benchmark is built here); the runtime stage holds the two
# stripped binaries and only the shared libraries they load that the base
# image lacks (tcmalloc among them: lossd links it). It runs
# as the numeric user 10001, needs no writable path (--read-only works), and
# lossd, as PID 1, drains and exits 0 on SIGTERM (no --init needed).
# Deployment guide: docs/OPERATIONS.md.
#
# No "# syntax=" line on purpose: BuildKit would try to pull its frontend.

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# The libraries the base image already has are not copied to the runtime
# stage; note them before anything is installed.
RUN ls /lib/*-linux-gnu* /usr/lib/*-linux-gnu* /lib /usr/lib \
      2>/dev/null | sort -u > /base-libraries
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config \
      protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev \
      libabsl-dev libeigen3-dev libspdlog-dev nlohmann-json3-dev \
      prometheus-cpp-dev libgoogle-perftools-dev libbenchmark-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DLOSSD_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target lossd lossctl
# /out mirrors the runtime stage's /usr/local: the binaries and every shared
# library they need that the base image does not have.
RUN mkdir -p /out/bin /out/lib/lossd \
 && install -s /build/server/lossd /build/client/lossctl/lossctl /out/bin/ \
 && ldd /out/bin/lossd /out/bin/lossctl | awk '$2 == "=>" && $3 ~ /^\// {print $3}' \
      | sort -u | while read -r library; do \
          grep -qxF "$(basename "$library")" /base-libraries \
            || cp -L "$library" /out/lib/lossd/; \
        done \
 && ls -l /out/bin /out/lib/lossd

FROM ${BASE_IMAGE}
COPY --from=build /out/ /usr/local/
RUN echo /usr/local/lib/lossd > /etc/ld.so.conf.d/lossd.conf \
 && ldconfig \
 && groupadd --gid 10001 lossd \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin lossd \
 && if ldd /usr/local/bin/lossd /usr/local/bin/lossctl | grep 'not found'; then exit 1; fi \
 && lossd --version >/dev/null
USER 10001:10001
ENV LOSSD_ADDRESS=0.0.0.0:50051 \
    LOSSD_METRICS_ADDRESS=0.0.0.0:9090
# gRPC (LossService, grpc.health.v1, reflection), Prometheus /metrics.
EXPOSE 50051 9090
# "readiness" turns NOT_SERVING while lossd drains (docs/OPERATIONS.md).
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["lossctl", "health", "--target=localhost:50051", "--service=readiness", "--timeout=2s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["lossd"]
