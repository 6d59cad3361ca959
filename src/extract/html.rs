//! HTML text extraction (to be written).
