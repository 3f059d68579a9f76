"""pmz's stand-in for Pulzar's `pulzarcore` package: only what job scripts use (core_jobs)."""
