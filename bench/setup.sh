#!/usr/bin/env bash
# Installs the benchmark reference (Debian's PyTorch with its oneDNN/OpenBLAS backends) so that
# `npm run bench` can compare our GEMM/GEMV against torch.matmul on the same shapes in the same run.
# Needs apt-get and root (or sudo). Without it the bench still runs against our own references.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends python3-torch python3-numpy libopenblas0
/usr/bin/python3 -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
