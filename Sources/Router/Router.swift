// Router: a fastText-style classifier from a request to an expert, which can abstain.
//
// A request's UTF-8 bytes become hashed features (`FeatureHasher`: character n-grams of 2-5 bytes of
// each whitespace-separated word with '<' '>' boundary marks, word unigrams and bigrams, and the word
// count), which index a bucketed embedding table; their mean goes through one linear layer and a softmax
// over the registered experts (`RouterModel`). There is no vocabulary: every feature is hashed with a
// fixed hash (FNV-1a 64, then a 64-bit finaliser), so a model means the same thing on every run and platform.
//
// Training (`RouterTrainer`) is fastText's supervised recipe, written for this shape: per-example SGD with
// a learning rate decaying linearly to zero, where only the embedding rows a request touches are updated.
// It runs on one thread in a fixed order from a seed, so the same data and seed give bit-identical weights.
// Experts are balanced first (`ExampleBalancer`: capped, or upsampled, to a common count), because the
// router is retrained whenever an expert is added or removed and no expert should win by volume.
//
// Abstaining has two parts: a background class ("__none__", trained on generic text that ships with the
// repository) that soaks up requests unlike any task, and a confidence threshold chosen on the experts'
// validation inputs (`ThresholdSelector`: by default the highest that accepts 99.9% of them, every expert
// weighing the same). Below it, `route` says that no expert fits and lists the closest candidates, or hands
// the request to a configured fallback expert, marked as such (`RoutingDecision`).
