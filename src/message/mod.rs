//! message (filled in by its owner)
