//! reactor: placeholder, filled by its issue.
