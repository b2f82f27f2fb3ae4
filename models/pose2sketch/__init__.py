"""Pose -> sketch (pix2pix-style): `anime-pose2sketch`; see family.py."""
