// TriageEngine: ties experts, router and registry together for the CLI.
