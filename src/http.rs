//! Shared HTTP client (being written).
