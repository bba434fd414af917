# Imaging uploader: common tasks. Each target is a thin wrapper around scripts/.

PYTEST_ARGS ?=
# make run LAUNCHERS=3 VALIDATORS=2: how many replicas of each worker `make run` starts.
LAUNCHERS ?= 1
VALIDATORS ?= 1
# make run LORIS=1: LORIS site mode on a local stand-in LORIS database (docs/loris-site.md).
LORIS ?= 0

.PHONY: help run test setup bench bench-latency bench-loris bench-browser bench-log bench-soak bench-pipeline compose-config clean

help:
	@echo "make run             set up, load demo data and run the four services (Ctrl-C stops);"
	@echo "                     LAUNCHERS=n VALIDATORS=n run that many of each (default 1), e.g. make run LAUNCHERS=3 VALIDATORS=2"
	@echo "                     LORIS=1: LORIS site mode on a local stand-in LORIS database (docs/loris-site.md)"
	@echo "make test            set up and run the test suite (extra args: PYTEST_ARGS=\"-k name\")"
	@echo "make setup           venv, local PostgreSQL and RabbitMQ, and the uploader database"
	@echo "make bench           upload throughput benchmark (bench/upload_throughput.py)"
	@echo "make bench-latency   pre-flight and browse/log latency benchmarks (bench/preflight_latency.py, bench/browse_latency.py)"
	@echo "make bench-loris     LORIS site mode: pre-flight with 100,000 candidates in LORIS's tables"
	@echo "                     (bench/preflight_latency.py --loris), and 100,000 notification_spool rows into the log"
	@echo "                     beside a SELECT of them (bench/loris_spool_throughput.py)"
	@echo "make bench-browser   a 2 GiB upload through the web page in Chromium, beside curl (bench/browser_upload.py)"
	@echo "make bench-log       a pipeline printing 100,000 lines: lines per second into the log, beside a COPY (bench/log_throughput.py)"
	@echo "make bench-soak      1,000 uploads, two launchers, a service killed every few seconds (bench/soak.py);"
	@echo "                     SOAK_ARGS=\"--uploads 200 --kill-every 3 --seed 7\""
	@echo "make bench-pipeline  launchers with a no-op pipeline (1, 2, 4 replicas) beside RabbitMQ alone, and the"
	@echo "                     reference pipeline beside tar (bench/pipeline_overhead.py);"
	@echo "                     BENCH_PIPELINE_ARGS=\"--uploads 100 --replicas 1,2 --dicom-mib 64 --skip-broker\""
	@echo "make compose-config  validate docker-compose.yml, alone and with docker-compose.loris.yml (placeholder secrets)"
	@echo "make clean           remove .venv and var/"

run:
	LAUNCHERS=$(LAUNCHERS) VALIDATORS=$(VALIDATORS) LORIS=$(LORIS) bash scripts/run.sh

test:
	bash scripts/test.sh $(PYTEST_ARGS)

setup:
	bash scripts/setup.sh --with-database

# The benchmark sends its uploads with curl, the same client for every server.
bench:
	bash scripts/setup.sh
	@command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl; }
	.venv/bin/python bench/upload_throughput.py

# About 1 and 4 minutes; each prints its figures, its baseline and whether its goals are met.
bench-latency:
	bash scripts/setup.sh
	.venv/bin/python bench/preflight_latency.py
	.venv/bin/python bench/browse_latency.py

# LORIS site mode, each on a LORIS database of its own on the local MariaDB; each prints its figures, its baseline
# and whether its goal is met, and exits 1 on a wrong answer.
bench-loris:
	bash scripts/setup.sh --with-loris
	.venv/bin/python bench/preflight_latency.py --loris
	.venv/bin/python bench/loris_spool_throughput.py

bench-browser:
	bash scripts/setup.sh --with-browser
	@command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl; }
	.venv/bin/python bench/browser_upload.py

bench-log:
	bash scripts/setup.sh
	.venv/bin/python bench/log_throughput.py

# About 5 minutes for 1,000 uploads; prints the figures and exits 1 if an upload was lost or ran twice at once.
SOAK_ARGS ?=
bench-soak:
	bash scripts/setup.sh
	.venv/bin/python bench/soak.py $(SOAK_ARGS)

# About 1½ minutes on 2 cores (300 uploads a row, 20,000 raw messages, a 256 MiB archive); prints the figures and
# their ratios to the baselines of the same run.
BENCH_PIPELINE_ARGS ?=
bench-pipeline:
	bash scripts/setup.sh
	.venv/bin/python bench/pipeline_overhead.py $(BENCH_PIPELINE_ARGS)

# Validating the file needs no Docker engine; Debian's docker-compose (v1.29) is enough. The file
# requires the three secrets; placeholders stand in for them here.
COMPOSE_CHECK_SECRETS = UPLOADER_DEMO_TOKEN=compose-config-token UPLOADER_DEMO_PASSWORD=compose-config-password \
	UPLOADER_INTERNAL_SECRET=compose-config-internal-secret \
	UPLOADER_LORIS_DATABASE_URL=mysql://uploader:compose-config@loris-db:3306/LORIS
LORIS_COMPOSE_FILES = -f docker-compose.yml -f docker-compose.loris.yml

compose-config:
	@if docker compose version >/dev/null 2>&1; then \
		$(COMPOSE_CHECK_SECRETS) docker compose config -q && \
		$(COMPOSE_CHECK_SECRETS) docker compose $(LORIS_COMPOSE_FILES) config -q; \
	else \
		command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; }; \
		$(COMPOSE_CHECK_SECRETS) docker-compose config -q && \
		$(COMPOSE_CHECK_SECRETS) docker-compose $(LORIS_COMPOSE_FILES) config -q; \
	fi
	@echo "docker-compose.yml is valid, alone and with docker-compose.loris.yml"

clean:
	rm -rf .venv var
