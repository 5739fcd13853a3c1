import TensorCore
import Router

/// Small made-up tasks for the router tests: each expert's requests follow a few templates with random
/// numbers and words, as the real experts' requests do, and the background is plain prose.
enum SyntheticTasks {
    static let words = ["apple", "river", "window", "garden", "planet", "silver", "motion", "bridge", "candle", "forest",
                        "orange", "pencil", "rocket", "tunnel", "violet", "yellow", "anchor", "butter", "castle", "dragon"]
    static let prose = ["the", "old", "man", "walked", "slowly", "along", "quiet", "road", "while", "children", "played",
                        "in", "a", "sunny", "park", "near", "lake", "and", "birds", "sang", "of", "summer", "evening",
                        "her", "letter", "arrived", "late", "because", "storm", "closed", "every", "station", "town"]

    static func request(_ task: String, _ rng: inout RandomGenerator) -> String {
        func n(_ hi: Int) -> Int { rng.nextInt(below: hi) }
        func word() -> String { words[rng.nextInt(below: words.count)] }
        switch task {
        case "add-or-sub":
            return ["What is \(n(1000)) + \(n(1000))?", "Calculate \(n(500)) - \(n(500)).", "Work out \(n(90)) + -\(n(90))."][n(3)]
        case "sort":
            let xs = (0..<(3 + n(4))).map { _ in String(n(100) - 50) }.joined(separator: ", ")
            return ["Sort \(xs) in ascending order.", "Put \(xs) in decreasing order."][n(2)]
        case "conversion":
            return ["How many meters are there in \(n(100)).\(n(10)) kilometers?", "Convert \(n(500)) grams to kilograms.",
                    "What is \(n(60)) minutes in hours?"][n(3)]
        case "pronounce":
            return ["Pronounce \(word()).", "How do you say \(word())?", "Phonemes of \(word())"][n(3)]
        case "compare":
            return ["Which is bigger: \(n(100)) or \(n(100))?", "Is \(n(1000)) less than \(n(1000))?"][n(2)]
        default:
            fatalError("unknown synthetic task \(task)")
        }
    }

    static func examples(_ tasks: [String], perTask: Int, seed: UInt64) -> [(input: String, expert: String)] {
        var rng = RandomGenerator(seed: seed)
        var out = [(input: String, expert: String)]()
        for _ in 0..<perTask { for t in tasks { out.append((input: request(t, &rng), expert: t)) } }
        return out
    }

    static func background(_ count: Int, seed: UInt64) -> [String] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in
            (0..<(6 + rng.nextInt(below: 8))).map { _ in prose[rng.nextInt(below: prose.count)] }.joined(separator: " ") + "."
        }
    }

    /// Small enough for debug builds (where Swift loops run 25-50x slower).
    static var config: RouterConfig {
        var c = RouterConfig()
        c.buckets = 1 << 14
        c.dim = 16
        c.epochs = 5
        c.seed = 7
        return c
    }
}
