"""Serket's modules above the GMM (Nakamura et al.): multimodal LDA (mlda), a Markov
model (markov), one round of both (upper) and their data (data). NumPy models, no torch."""
