//! Whole-message tests: exact ENVELOPE / BODYSTRUCTURE strings and section bytes.
