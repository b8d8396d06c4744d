#!/usr/bin/env bash
# Start any of the machine's shared servers that has stopped (PostgreSQL, MariaDB, Redis,
# RabbitMQ, Mosquitto, NATS), then wait until each accepts connections. Idempotent: a server
# already listening is left alone; the tests never stop or reconfigure these.
set -uo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local name=$1 port=$2
    shift 2
    if listening "$port"; then
        return 0
    fi
    echo "services: $name is not listening on 127.0.0.1:$port, starting it"
    "$@" || echo "services: starting $name failed (its tests will fail loudly)"
}

start PostgreSQL 5432 sh -c 'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start'
start MariaDB 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
start Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
start RabbitMQ 5672 rabbitmq-server -detached
start Mosquitto 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf
start NATS 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log

# RabbitMQ takes seconds to open its port; bounded: at most 60 s in all.
for port in 5432 3306 6379 5672 1883 4222; do
    for _ in $(seq 1 120); do
        listening "$port" && break
        sleep 0.5
    done
    listening "$port" || echo "services: nothing listens on 127.0.0.1:$port yet"
done
