# The project's front door. Every target works on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint services bench bench-fanout bench-connection-memory bench-broker bench-cluster bench-workers bench-push-waves metrics-excerpt bench-archive bench-report loadtest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## run: the whole engine in one process on the embedded default (no services needed)
run: $(STAMP)
	$(BIN)/party-engine all

## services: install the servers the tests start themselves (Debian packages), where missing
services:
	@scripts/install-services.sh

## test: install what the tests need and run the whole suite (what CI runs)
test: services $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy party_engine workers
	$(BIN)/pytest

## lint: ruff and mypy (also part of test)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy party_engine workers

## loadtest: the locust party spike, headless, against a running engine (PARTY_URL); report in loadtests/results/
PARTY_URL ?= http://127.0.0.1:8000
loadtest: $(STAMP)
	mkdir -p loadtests/results
	cd loadtests && ../$(BIN)/locust -f locustfile.py --headless --host $(PARTY_URL) \
		--csv results/spike --html results/spike.html --only-summary $(LOCUST_ARGS)

## bench: the fair table: the engine beside two raw servers, python-socketio and Node Socket.IO; 3 runs, medians (BENCH_ARGS="--profile smoke")
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

## bench-fanout: one gateway, N clients in one party; prints frames/s, events/s, RSS per connection (BENCH_FANOUT_ARGS="--clients 500")
bench-fanout: $(STAMP)
	$(BIN)/python -m loadtests.bench_fanout $(BENCH_FANOUT_ARGS)

## bench-connection-memory: server RSS per idle connection, layer by layer (raw asyncio, uvicorn's floor, the engine, joined) (BENCH_MEMORY_ARGS="--connections 2000")
bench-connection-memory: $(STAMP)
	$(BIN)/python -m loadtests.bench_connection_memory $(BENCH_MEMORY_ARGS)

## bench-broker: publish_share calls/s against a private redis-server (BENCH_BROKER_ARGS="--calls 20000")
bench-broker: $(STAMP)
	$(BIN)/python -m loadtests.bench_broker $(BENCH_BROKER_ARGS)

## bench-cluster: fan-out on a private Redis Cluster: per-master traffic, sharded vs plain PUBLISH, ack p50/p99 with and without WAIT 1 (BENCH_CLUSTER_ARGS="--shares 200")
bench-cluster: $(STAMP)
	$(BIN)/python -m loadtests.bench_cluster $(BENCH_CLUSTER_ARGS)

## bench-workers: one worker process on pre-filled RabbitMQ queues (idempotency on); prints events/s until every queue is drained (BENCH_WORKERS_ARGS="--events 50000")
bench-workers: services $(STAMP)
	$(BIN)/python -m loadtests.bench_workers $(BENCH_WORKERS_ARGS)

## bench-push-waves: a party's followers join when their push arrives, waves vs all at once (BENCH_PUSH_WAVES_ARGS="--followers 20000")
bench-push-waves: services $(STAMP)
	$(BIN)/python -m loadtests.bench_push_waves $(BENCH_PUSH_WAVES_ARGS)

## metrics-excerpt: every role in its own process on a private Redis and RabbitMQ; prints each one's /metrics after a join, share, like and two starts
metrics-excerpt: services $(STAMP)
	$(BIN)/python -m loadtests.metrics_excerpt

## bench-archive: one archive worker process on a pre-filled queue; prints events/s and bytes per event, Parquet vs JSON (BENCH_ARCHIVE_ARGS="--events 100000 --storage s3")
bench-archive: services $(STAMP)
	$(BIN)/python -m loadtests.bench_archive $(BENCH_ARCHIVE_ARGS)

## bench-report: the host report's compute time and Parquet size for a generated 2-hour, 50,000-shopper party (BENCH_REPORT_ARGS="--shoppers 5000")
bench-report: $(STAMP)
	$(BIN)/python -m loadtests.bench_report $(BENCH_REPORT_ARGS)
