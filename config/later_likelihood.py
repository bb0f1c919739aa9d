"""Issue 46 candidate: later rounds keep the chain (fresh map or last round's classes) with the higher mean log joint."""
later_start = "likelihood"
