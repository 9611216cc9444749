// swift-tools-version:6.0
// Writes the synthetic libffm data of the ctr-train benchmark (Benchmarks/train/run.sh).
// A separate package so nothing here reaches SwiftCTR's users.
import PackageDescription

let package = Package(
    name: "SynthFFM",
    targets: [.executableTarget(name: "synth-ffm")],
    swiftLanguageModes: [.v5]
)
