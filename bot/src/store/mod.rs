//! The durable store (being written).
