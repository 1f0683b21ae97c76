//! CI providers (being written).
