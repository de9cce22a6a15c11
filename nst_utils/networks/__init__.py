"""Networks trained with the paper's loss (notebooks 07 and 08): the one-pass painter and its
training, AdaIN and WCT on features, decoders that invert them, the training photos."""
