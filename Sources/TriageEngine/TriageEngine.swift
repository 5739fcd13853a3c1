// TriageEngine: ties experts, router and registry together for the CLI.
//
// It owns the workflows a user runs — add, import, export and remove experts (each registered
// atomically with a router that knows the new set), ask and route requests, evaluate, compare — and
// the shipped-suite bootstrap. The CLI only parses arguments and prints what the engine returns.
