//! auth (filled in by its owner)
