"""Data domain code: the generated face renderer, image I/O, perceptual hashes, splits, packed shards."""
