import ExpertModel

/// The training mixture of a single model that learns every task at once (a suite's shared base, and
/// `triage compare`'s baselines): every task's examples cycled up to the largest task's size, so each task
/// gets the same share of the steps whatever its file size; validation takes an equal slice of each task.
enum BalancedMixture {
    static func training(_ sets: [[Example]]) -> [Example] {
        let most = sets.map(\.count).max() ?? 0
        var mixture = [Example]()
        mixture.reserveCapacity(size(sets))
        for set in sets where !set.isEmpty { for i in 0..<most { mixture.append(set[i % set.count]) } }
        return mixture
    }

    /// How many examples `training(sets)` holds, without building it.
    static func size(_ sets: [[Example]]) -> Int {
        (sets.map(\.count).max() ?? 0) * sets.filter { !$0.isEmpty }.count
    }

    static func validation(_ sets: [[Example]], total: Int) -> [Example] {
        let perTask = max(1, total / max(1, sets.count))
        return sets.flatMap { $0.prefix(perTask) }
    }
}
