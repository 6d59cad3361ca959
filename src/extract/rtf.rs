//! RTF text extraction (to be written).
