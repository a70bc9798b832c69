//! IAM policy engine (work in progress).
#![forbid(unsafe_code)]
