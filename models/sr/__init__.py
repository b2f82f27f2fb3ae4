"""4x super-resolution: `anime-sr` (content loss) and `anime-srgan` (adversarial fine-tune); see family.py."""
