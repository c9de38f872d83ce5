"""The small shared core every stage builds on: config, paths, schema, files, arrays, tracking."""
