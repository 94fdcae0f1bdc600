//! Meeting-link detection (being written).
