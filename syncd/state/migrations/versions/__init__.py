"""Migration revisions (a package so that wheels include them)."""
