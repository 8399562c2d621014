"""Sweeps and studies: run-folder naming, reading finished / failed runs, and the sweep report."""
