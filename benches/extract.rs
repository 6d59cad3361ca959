//! Extraction throughput: PDF, RTF and HTML (filled in below).
use criterion::{Criterion, criterion_group, criterion_main};

fn benches(_c: &mut Criterion) {}

criterion_group!(extract, benches);
criterion_main!(extract);
