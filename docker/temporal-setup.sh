#!/bin/sh
# One-shot setup of the compose stack's Temporal server, run from the admin-tools image:
#   1. the database schemas (temporal and temporal_visibility) on PostgreSQL,
#   2. after the server is up (second invocation, "namespace"): the namespace and meshshift's
#      search attributes, so migrations can be listed by app, phase and green weight.
# Safe to run again on every `docker compose up`: what exists already is left as it is.
set -eu

: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:=temporal}"
: "${NAMESPACE:=default}"

schema() {
    # SQL_PASSWORD is read by temporal-sql-tool from the environment (never on the command line).
    export SQL_PASSWORD="${POSTGRES_PWD:?POSTGRES_PWD is not set}"
    sql="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $DB_PORT -u $POSTGRES_USER"
    for db in temporal temporal_visibility; do
        case "$db" in
            temporal) dir=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
            *) dir=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
        esac
        # create and the initial setup fail harmlessly when they were done on an earlier start;
        # update-schema is idempotent and must succeed.
        $sql --db "$db" create || echo "database $db exists"
        $sql --db "$db" setup-schema -v 0.0 || echo "schema of $db exists"
        $sql --db "$db" update-schema -d "$dir"
    done
}

namespace() {
    if ! temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
        temporal operator namespace create --namespace "$NAMESPACE" --retention 30d
    fi
    # One command per attribute: --type is a single value, not one per --name.
    for pair in MeshshiftApp:Keyword MeshshiftPhase:Keyword MeshshiftGreenWeight:Int; do
        name=${pair%%:*}
        type=${pair#*:}
        if temporal operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$name"; then
            echo "search attribute $name exists"
        else
            temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type"
        fi
    done
}

case "${1:-}" in
    schema) schema ;;
    namespace) namespace ;;
    *) echo "usage: $0 schema|namespace" >&2; exit 2 ;;
esac
