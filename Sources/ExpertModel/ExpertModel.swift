// ExpertModel: the byte-level decoder-only transformer every narrow expert is.
//
// An example is `BOS input-bytes SEP output-bytes EOS`; the model is trained on the output bytes and
// EOS only, and answers by greedy decoding with a KV cache. Weights are safetensors with PyTorch-style
// names (see `Transformer`), so other tools (shared/peers/parity.py) read them.
