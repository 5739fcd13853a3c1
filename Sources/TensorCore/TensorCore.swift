// TensorCore: the shared tensor library every Triage model runs on.
//
// Float32 tensors on 64-byte-aligned storage, reverse-mode autograd over coarse fused ops
// (matmul through OpenBLAS sgemm, LayerNorm, attention, cross-entropy), layers, AdamW, a seeded RNG
// and safetensors I/O. Hot loops live in the CKernels C target so they are optimised in every build.
