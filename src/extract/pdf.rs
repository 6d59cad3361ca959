//! PDF text extraction (to be written).
