//! Integration tests: one binary, one module per area.

mod bad_input;
mod cli;
mod common;
mod conformance;
mod delivery;
mod dialects;
mod email;
mod forge;
mod gate;
mod gate_fixtures;
mod gate_publish;
mod notify;
mod schema;
mod server;
mod ship;
