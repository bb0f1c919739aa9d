"""The original code's recipe, its defects included: the README's "original code" row.

    python main.py config/original_code.py --data_root=DIR

Its dense 784-256-12 VAE trained 100 epochs a round with mini-batches of 10, a new VAE
each round from a sampled latent, and the GMM started from its prior (original_defects
brings its GMM prior, its last-sample report and its two bugs; docs/model.md).
"""
architecture = "dense"
hidden_dims = (256,)
latent_dim = 12
batch_size = 10
vae_epochs = 100
mutual_epochs = 100
mutual_iteration = 2
gmm_iter = 100
gmm_init = "prior"
warm_start_vae = False
send = "sample"
original_defects = True
