"""Files: reading images and their axes, the .cuts levels format, safe writing, errors, preflight checks."""
