"""The run folder model/<dir_name>/ and resume: its files (files), a run's state between
rounds (state), its plots (plots) and --generate (generate)."""
