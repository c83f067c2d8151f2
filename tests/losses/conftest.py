import torch

# Tiny tensors: thread start-up and contention with other test processes cost far more than
# the arithmetic, so the loss tests run single-threaded.
torch.set_num_threads(1)
