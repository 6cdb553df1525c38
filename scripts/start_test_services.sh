#!/usr/bin/env bash
# Starts what the test suite needs and is not a Python package: PostgreSQL on 127.0.0.1:5432.
# Safe to run again: it does nothing when everything is already up.
set -euo pipefail

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1; then
    echo "start_test_services: PostgreSQL client tools are missing; installing postgresql" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! postgres_up; then
    echo "start_test_services: starting PostgreSQL" >&2
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
fi
postgres_up || { echo "start_test_services: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
echo "start_test_services: PostgreSQL is up (tests use ${LEARNLOOP_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test})" >&2
