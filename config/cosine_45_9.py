"""Issue 34's candidate: 45 VAE epochs in round 0 and 9 in each later round on 10,000
images (60% of the default's), with the learning rate decayed by a cosine within every
round (vae_module.cosine_lr; commit of branch `fast`).

    python main.py config/cosine_45_9.py --data_root=DIR
"""
vae_epochs = 45
mutual_epochs = 9
