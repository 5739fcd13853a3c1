// Router: a fastText-style classifier from a request to an expert, which can abstain.
