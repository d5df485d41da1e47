"""Helpers for tests and benchmarks that the app never ships (studio/, engines/ and ui/ never
import them). Tests import them as `tests.helpers.*`; benchmarks too, after putting the
checkout's root on sys.path."""
