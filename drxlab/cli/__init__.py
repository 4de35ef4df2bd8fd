"""The `drxlab` command line."""
