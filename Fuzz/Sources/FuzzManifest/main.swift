// `experts import`'s reading of an expert folder: the input is `expert.json`, in a folder that also holds
// the tiny expert's weights and data files. `ExpertFolder.read` (manifest, names, hashes) and then
// `load` (the weights as the manifest's model, every data file, a calibration fitted when missing) run
// exactly as import runs them, short of storing blobs. Whatever the manifest says must give an error or
// a folder whose every file lies inside it.
import Foundation
import ExpertModel
import FuzzSupport
import TriageEngine

/// The expert folder every execution reads (its `expert.json` rewritten each time).
nonisolated(unsafe) var folder = ""


func testOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = Harness.data(bytes, count)
    guard (try? data.write(to: URL(fileURLWithPath: folder + "/expert.json"))) != nil else { fatalError("cannot write \(folder)/expert.json") }
    guard let checked = try? ExpertFolder.read(folder) else { return 0 }
    let m = checked.manifest
    let root = URL(fileURLWithPath: folder).standardizedFileURL.path + "/"
    for file in [m.weights] + m.data.roles.compactMap({ m.data[$0] }) {
        let resolved = URL(fileURLWithPath: folder + "/" + file).standardizedFileURL.resolvingSymlinksInPath().path
        if !resolved.hasPrefix(root) { Harness.violated("the manifest names \"\(file)\", outside the folder (\(resolved)), and was accepted") }
    }
    if let c = m.calibration {
        for s in [-1.0, 0, 0.3, 0.5, 1, 2] where !(c.probability(s) >= 0 && c.probability(s) <= 1) {
            Harness.violated("an accepted calibration maps \(s) to \(c.probability(s))")
        }
    }
    if let contents = try? checked.load(log: { _ in }), contents.model.config != m.config {
        Harness.violated("the folder loaded a model of another config than its manifest's")
    }
    return 0
}

folder = Harness.scratchDirectory("manifest")
let manifest: ExpertManifest
do { manifest = try Fixtures.writeExpertFolder(to: folder) } catch { fatalError("cannot write the fixture folder: \(error)") }
Harness.main(seeds: {
    var calibrated = manifest
    calibrated.calibration = Fixtures.calibration
    var unhashed = manifest
    unhashed.weightsSHA256 = nil
    unhashed.dataSHA256 = nil
    var trainOnly = manifest
    trainOnly.data = [.train: "train.jsonl"]
    var seeds = ["calibrated.json": try calibrated.encoded(), "uncalibrated.json": try manifest.encoded(),
                 "unhashed.json": try unhashed.encoded(), "train-only.json": try trainOnly.encoded()]
    seeds["shipped-add-or-sub.json"] = Fixtures.repositoryFile("Experts/add-or-sub/expert.json")
    return seeds
}, testOneInput)
