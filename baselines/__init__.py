"""Baselines run by main.py: the GMVAE (--model=gmvae), trained end to end."""
