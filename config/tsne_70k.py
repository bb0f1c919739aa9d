"""The previous default on all 70,000 images (bench/results/cpu_chain_70k): scikit-learn's
t-SNE of a random 10,000-point subset, Gaussian classes for the rest, and the epochs of
its budget then (750,000 images in round 0, 150,000 in each later round).

    python main.py config/tsne_70k.py --data_root=DIR
"""
n_data = 70000
gmm_init = "tsne"
vae_epochs = 11
mutual_epochs = 2
