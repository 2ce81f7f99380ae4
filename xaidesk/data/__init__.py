"""Qt-free loaders that turn files into validated numpy arrays."""
