"""CUDA and GPU: one test per `cuda` item (facts of a CUDA image) and per `gpu` item (facts of its GPUs)."""


def test_cuda(cuda_check, check):
    check("cuda", cuda_check)


def test_gpu(gpu_check, check):
    check("gpu", gpu_check)
