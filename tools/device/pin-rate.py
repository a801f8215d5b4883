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

# The block store's own way (kernels::allocate_pinned): mmap'd pages, transparent huge pages
# asked for, touched, then registered with the driver.
import ctypes

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
for huge, populate in ((True, True), (True, False), (False, False)):
    size = 1024 << 20
    p = libc.mmap(None, size, 3, 0x22, -1, 0)  # read/write, private anonymous
    if huge:
        libc.madvise(p, size, 14)  # MADV_HUGEPAGE
    start = time.time()
    if not populate or libc.madvise(p, size, 23) != 0:  # MADV_POPULATE_WRITE (Linux 5.14+)
        ctypes.memset(p, 0, size)
    touched = time.time()
    torch.cuda.cudart().cudaHostRegister(p, size, 3)  # portable | mapped
    done = time.time()
    how = ("huge, " if huge else "") + ("prefaulted by the kernel" if populate else "touched")
    print(f"own pages ({how}) 1024 MB: make present {(touched - start) * 1000:.0f} ms, "
          f"register {(done - touched) * 1000:.0f} ms ({1 / (done - start):.2f} GB/s in all)")
