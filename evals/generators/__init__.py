"""Task generators, one module per suite; each has `generate(variant, length, index, seed, out_dir)`."""
