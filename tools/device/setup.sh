# Sourced by the device scripts, from the repository root on the GPU machine (with .device-debs
# carried): unpacks the carried Debian packages into a private prefix, finds the PyTorch
# wheel's CUDA LibTorch, and defines configure_device, which configures the `device` preset
# (engine + CLI + kernels + tests, CUDA, no GUI, no poppler) with any extra cmake arguments.
prefix=/tmp/qread-deps
mkdir -p "$prefix"
for f in .device-debs/*.deb; do dpkg -x "$f" "$prefix"; done
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

configure_device() {
  cmake --preset device -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "$@" \
    > /tmp/configure.log 2>&1 || { cat /tmp/configure.log; return 1; }
}
