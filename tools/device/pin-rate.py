# How fast this machine page-locks host memory through PyTorch's pinned allocator (the block
# store's host arenas are page-locked; on the H100 machine this measured 1.65-2.0 GB/s).
#   python3 tools/device/pin-rate.py
import time

import torch

torch.cuda.init()
for mb in (32, 32, 1024):
    start = time.time()
    x = torch.empty(mb << 20, dtype=torch.uint8, pin_memory=True)
    took = time.time() - start
    print(f"pin_memory {mb} MB: {took * 1000:.1f} ms ({mb / 1024 / took:.2f} GB/s)")
