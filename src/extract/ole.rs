//! OLE text extraction (to be written).
