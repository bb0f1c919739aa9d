"""Where each Gibbs chain starts: a clustering of a map of the latents (maps.start)."""
