"""Offline evaluation of a voice's adapters: pure metrics, an eval run, an HTML report and a blind arena."""
