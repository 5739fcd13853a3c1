import ArgumentParser

/// The `triage` command: narrow experts and a router, on your own CPU.
struct Triage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "triage",
        abstract: "Narrow experts and a router, trained and run on your own CPU.",
        subcommands: [Ask.self, Complete.self, RouteCommand.self, Experts.self, Eval.self, Compare.self, GC.self, Config.self, Bench.self, Parity.self, Serve.self])
}
