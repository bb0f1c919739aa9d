"""Issue 46 candidate: later rounds start from the last round's classes, its probabilities voting."""
later_start = "previous"
