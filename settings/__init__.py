"""The settings of main.py's settings block: --name=value overrides and override files
checked, resolved for the data, and tied to the settings of a saved run (checks)."""
