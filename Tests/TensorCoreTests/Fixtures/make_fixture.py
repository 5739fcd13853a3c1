"""Writes python_written.safetensors with the Python `safetensors` package (0.8.0, torch 2.13 CPU),
so TensorCore's reader is checked against a file it did not write. Run: python3 make_fixture.py"""
import torch
from safetensors.torch import save_file

t = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5
save_file({
    "f32": t,
    "f16": t.to(torch.float16),
    "bf16": t.to(torch.bfloat16),
    "i64": torch.tensor([[1, -2, 3], [40000, 5, -6]], dtype=torch.int64),
    "scalar": torch.tensor(3.25, dtype=torch.float32),
}, "python_written.safetensors", metadata={"name": "fixture", "d_model": "4"})
