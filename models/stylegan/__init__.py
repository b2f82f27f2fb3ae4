"""StyleGAN2-style generator with attribute sliders: `anime-stylegan`; see family.py."""
