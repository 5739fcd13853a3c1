// ExpertModel: the byte-level decoder-only transformer every narrow expert is: model, training, decoding, evaluation.
