//! The real servers this project's machines run (PostgreSQL, MariaDB, Redis, RabbitMQ,
//! Mosquitto, NATS on their usual loopback ports), for tests of the protocols stillup speaks.
//!
//! A test that needs one asks [`running`]; when the server is absent the test says so loudly on
//! stderr and returns early, so that a missing service is visible in the log and never looks
//! like a pass of the protocol's logic. `.ci/run` starts any that has stopped, so in CI they are
//! all there.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A shared server on this machine: its name and loopback port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// What it is, for messages: `PostgreSQL`.
    pub name: &'static str,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// PostgreSQL, trust authentication, database `test`.
pub const POSTGRES: Service = Service {
    name: "PostgreSQL",
    port: 5432,
};
/// MariaDB, `root` without a password.
pub const MARIADB: Service = Service {
    name: "MariaDB",
    port: 3306,
};
/// Redis, no password.
pub const REDIS: Service = Service {
    name: "Redis",
    port: 6379,
};
/// RabbitMQ, `guest` / `guest`.
pub const RABBITMQ: Service = Service {
    name: "RabbitMQ",
    port: 5672,
};
/// Mosquitto, anonymous clients allowed.
pub const MOSQUITTO: Service = Service {
    name: "Mosquitto",
    port: 1883,
};
/// NATS, no authentication.
pub const NATS: Service = Service {
    name: "NATS",
    port: 4222,
};

impl Service {
    /// `127.0.0.1:PORT`.
    pub fn addr(self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Set (by `.ci/run`) to make an absent service fail the test instead of skipping it: CI
/// starts every service, so there an absent one is a broken set-up, not a reason to pass.
pub const REQUIRE_VARIABLE: &str = "STILLUP_REQUIRE_SERVICES";

/// The service's address when something accepts connections on its port; otherwise a loud
/// "SKIPPED" line on stderr naming the test and how to start the service, and `None` — or, with
/// [`REQUIRE_VARIABLE`] set, a panic.
pub fn running(service: Service, test: &str) -> Option<SocketAddr> {
    let addr = service.addr();
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => Some(addr),
        Err(e) if std::env::var_os(REQUIRE_VARIABLE).is_some() => {
            panic!("{test} needs {} on {addr}: {e}", service.name)
        }
        Err(e) => {
            eprintln!(
                "\n!!!!! SKIPPED {test}: {} is not running on {addr} ({e}); `.ci/run` starts it (see the README's test section) !!!!!\n",
                service.name
            );
            None
        }
    }
}
