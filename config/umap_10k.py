"""The UMAP start on the first 10,000 images (bench/results/cpu_umap_10k), the map the
default uses only above 10,000 points.

    python main.py config/umap_10k.py --data_root=DIR
"""
gmm_init = "umap"
